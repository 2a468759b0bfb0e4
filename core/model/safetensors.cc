// Safetensors reader and writer; see safetensors.h for the format and the error conventions.
#include "core/model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/util/file_io.h"
#include "core/util/status.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little-endian, like the host must be");

namespace muke {
namespace {

using nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // also the limit for index files
constexpr char kMetadataKey[] = "__metadata__";
constexpr char kSingleFileName[] = "model.safetensors";
constexpr char kIndexFileName[] = "model.safetensors.index.json";

struct DtypeName {
  const char* name;
  torch::ScalarType type;
};
constexpr DtypeName kDtypes[] = {
    {"F64", torch::kFloat64}, {"F32", torch::kFloat32}, {"F16", torch::kFloat16}, {"BF16", torch::kBFloat16},
    {"I64", torch::kInt64},   {"I32", torch::kInt32},   {"I16", torch::kInt16},   {"I8", torch::kInt8},
    {"U8", torch::kUInt8},    {"BOOL", torch::kBool},
};

std::optional<torch::ScalarType> DtypeFromName(const std::string& name) {
  for (const DtypeName& dtype : kDtypes) {
    if (name == dtype.name) return dtype.type;
  }
  return std::nullopt;
}

std::optional<std::string> DtypeToName(torch::ScalarType type) {
  for (const DtypeName& dtype : kDtypes) {
    if (type == dtype.type) return dtype.name;
  }
  return std::nullopt;
}

// "path: tensor 'name'", the prefix of every error about one tensor.
std::string Where(const std::string& path, const std::string& tensor) {
  return absl::StrCat(path, ": tensor '", tensor, "'");
}

// Compact JSON text of a value for error messages, cut to a readable length.
std::string Excerpt(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  return text.size() > 80 ? text.substr(0, 80) + "..." : text;
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  return (std::filesystem::path(dir) / name).string();
}

// A read-only mapping of a whole file, released on destruction.
class MappedFile {
 public:
  static absl::StatusOr<MappedFile> Open(const std::string& path);
  MappedFile(MappedFile&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  MappedFile& operator=(MappedFile&&) = delete;
  ~MappedFile() {
    if (data_ != nullptr) munmap(data_, size_);
  }
  const uint8_t* data() const { return static_cast<const uint8_t*>(data_); }
  uint64_t size() const { return size_; }

 private:
  MappedFile(void* data, uint64_t size) : data_(data), size_(size) {}
  void* data_;  // nullptr for an empty file
  uint64_t size_;
};

absl::StatusOr<MappedFile> MappedFile::Open(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);  // O_NONBLOCK: never hang on a FIFO
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot open"));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  void* data = nullptr;
  if (st.st_size > 0) {
    data = mmap(nullptr, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (data == MAP_FAILED) {
      const int error = errno;
      close(fd);
      return absl::ErrnoToStatus(error, absl::StrCat(path, ": cannot map"));
    }
  }
  close(fd);
  return MappedFile(data, st.st_size);
}

// Parses one header entry and checks it against the `data_size` bytes of the data section.
absl::StatusOr<TensorInfo> ParseTensorInfo(const std::string& path, const std::string& name, const json& entry,
                                           uint64_t data_size) {
  auto invalid = [&](auto&&... problem) {
    return absl::InvalidArgumentError(absl::StrCat(Where(path, name), ": ", problem...));
  };
  if (!entry.is_object()) return invalid("entry is not a JSON object: ", Excerpt(entry));
  TensorInfo info;
  info.name = name;

  const auto dtype = entry.find("dtype");
  if (dtype == entry.end() || !dtype->is_string()) return invalid("missing or non-string \"dtype\"");
  const std::optional<torch::ScalarType> type = DtypeFromName(dtype->get<std::string>());
  if (!type) return invalid("unknown dtype \"", dtype->get<std::string>(), "\"");
  info.dtype = *type;

  const auto shape = entry.find("shape");
  if (shape == entry.end() || !shape->is_array()) return invalid("missing or non-array \"shape\"");
  uint64_t numel = 1;
  bool overflow = false;
  for (const json& dim : *shape) {
    if (!dim.is_number_unsigned() || dim.get<uint64_t>() > uint64_t{std::numeric_limits<int64_t>::max()}) {
      return invalid("shape ", Excerpt(*shape), " is not a list of non-negative integers");
    }
    info.shape.push_back(dim.get<int64_t>());
    overflow |= __builtin_mul_overflow(numel, dim.get<uint64_t>(), &numel);
  }
  uint64_t nbytes = 0;
  overflow |= __builtin_mul_overflow(numel, torch::elementSize(info.dtype), &nbytes);
  // Like libtorch, reject any overflow, even when a zero dimension would make the tensor empty.
  if (overflow) return invalid("shape ", Excerpt(*shape), " overflows the byte count");

  const auto offsets = entry.find("data_offsets");
  if (offsets == entry.end() || !offsets->is_array() || offsets->size() != 2 || !(*offsets)[0].is_number_unsigned() ||
      !(*offsets)[1].is_number_unsigned()) {
    return invalid("\"data_offsets\" is not two non-negative integers");
  }
  info.begin = (*offsets)[0].get<uint64_t>();
  info.end = (*offsets)[1].get<uint64_t>();
  const std::string span = absl::StrCat("data_offsets [", info.begin, ", ", info.end, "]");
  if (info.begin > info.end) return invalid(span, " have begin > end");
  if (info.end - info.begin != nbytes) {
    return invalid(span, " hold ", info.end - info.begin, " bytes but shape [", absl::StrJoin(info.shape, ", "),
                   "] of ", dtype->get<std::string>(), " needs ", nbytes);
  }
  if (info.end > data_size) {
    return absl::DataLossError(absl::StrCat(Where(path, name), ": ", span, " end beyond the data section of ",
                                            data_size, " bytes (truncated file?)"));
  }
  return info;
}

absl::StatusOr<std::map<std::string, std::string>> ParseMetadata(const std::string& path, const json& value) {
  const std::string problem = absl::StrCat(path, ": \"", kMetadataKey, "\" is not an object of strings: ");
  if (!value.is_object()) return absl::InvalidArgumentError(problem + Excerpt(value));
  std::map<std::string, std::string> metadata;
  for (const auto& item : value.items()) {
    if (!item.value().is_string()) return absl::InvalidArgumentError(problem + Excerpt(value));
    metadata[item.key()] = item.value().get<std::string>();
  }
  return metadata;
}

// Fails when two non-empty tensors share bytes of the data section.
absl::Status CheckNoOverlap(const std::string& path, const std::vector<TensorInfo>& tensors) {
  std::vector<const TensorInfo*> by_begin;
  for (const TensorInfo& info : tensors) {
    if (info.end > info.begin) by_begin.push_back(&info);
  }
  std::sort(by_begin.begin(), by_begin.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_begin.size(); ++i) {
    const TensorInfo& previous = *by_begin[i - 1];
    const TensorInfo& current = *by_begin[i];
    if (current.begin < previous.end) {
      return absl::InvalidArgumentError(absl::StrCat(Where(path, current.name), ": data_offsets [", current.begin, ", ",
                                                     current.end, "] overlap those of tensor '", previous.name, "' [",
                                                     previous.begin, ", ", previous.end, "]"));
    }
  }
  return absl::OkStatus();
}

// A validated header and the file offset of its data section.
struct ParsedFile {
  SafetensorsHeader header;
  uint64_t data_start = 0;
};

absl::StatusOr<ParsedFile> ParseFile(const std::string& path, const MappedFile& file) {
  if (file.size() < 8) {
    return absl::DataLossError(
        absl::StrCat(path, ": file of ", file.size(), " bytes is too short for the 8-byte header length"));
  }
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | file.data()[i];
  if (header_size > kMaxHeaderBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": header length ", header_size, " exceeds the limit of ", kMaxHeaderBytes, " bytes"));
  }
  if (header_size > file.size() - 8) {
    return absl::DataLossError(absl::StrCat(path, ": header length ", header_size, " exceeds the ", file.size() - 8,
                                            " bytes that follow it (truncated file?)"));
  }
  const char* text = reinterpret_cast<const char*>(file.data() + 8);
  const json header = json::parse(text, text + header_size, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(path, ": header is not valid JSON"));
  if (!header.is_object()) return absl::InvalidArgumentError(absl::StrCat(path, ": header is not a JSON object"));

  ParsedFile parsed;
  parsed.data_start = 8 + header_size;
  for (const auto& item : header.items()) {  // keys come sorted, so tensors are sorted by name
    if (item.key() == kMetadataKey) {
      MUKE_ASSIGN_OR_RETURN(parsed.header.metadata, ParseMetadata(path, item.value()));
      continue;
    }
    MUKE_ASSIGN_OR_RETURN(TensorInfo info,
                          ParseTensorInfo(path, item.key(), item.value(), file.size() - parsed.data_start));
    parsed.header.tensors.push_back(std::move(info));
  }
  MUKE_RETURN_IF_ERROR(CheckNoOverlap(path, parsed.header.tensors));
  return parsed;
}

// Copies one tensor out of the data section, then moves it to the requested device and dtype.
absl::StatusOr<torch::Tensor> LoadTensor(const std::string& path, const TensorInfo& info, const uint8_t* data,
                                         const TensorLoadOptions& options) {
  const uint8_t* bytes = data + info.begin;
  const uint64_t nbytes = info.end - info.begin;
  if (info.dtype == torch::kBool && std::any_of(bytes, bytes + nbytes, [](uint8_t byte) { return byte > 1; })) {
    return absl::InvalidArgumentError(Where(path, info.name) + ": BOOL data holds a byte other than 0 or 1");
  }
  return CatchExceptions(Where(path, info.name), [&]() -> absl::StatusOr<torch::Tensor> {
    torch::Tensor tensor = torch::empty(info.shape, torch::TensorOptions().dtype(info.dtype));
    if (nbytes > 0) std::memcpy(tensor.data_ptr(), bytes, nbytes);
    const bool convert = options.dtype.has_value() && torch::isFloatingType(info.dtype);
    return tensor.to(options.device, convert ? *options.dtype : info.dtype);
  });
}

// Shard file names of a sharded checkpoint, each with the names of the tensors the index puts there.
using ShardMap = std::map<std::string, std::vector<std::string>>;

absl::StatusOr<ShardMap> ReadIndex(const std::string& index_path) {
  MUKE_ASSIGN_OR_RETURN(MappedFile file, MappedFile::Open(index_path));
  if (file.size() > kMaxHeaderBytes) {
    return absl::InvalidArgumentError(absl::StrCat(index_path, ": larger than ", kMaxHeaderBytes, " bytes"));
  }
  const char* text = reinterpret_cast<const char*>(file.data());
  const json index = json::parse(text, text + file.size(), nullptr, /*allow_exceptions=*/false);
  if (!index.is_object()) return absl::InvalidArgumentError(absl::StrCat(index_path, ": not a JSON object"));
  const auto weight_map = index.find("weight_map");
  if (weight_map == index.end() || !weight_map->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(index_path, ": missing \"weight_map\" object"));
  }
  ShardMap shards;
  for (const auto& item : weight_map->items()) {
    const std::string shard = item.value().is_string() ? item.value().get<std::string>() : "";
    const bool plain_name = !shard.empty() && shard != "." && shard != ".." &&
                            shard.find_first_of(std::string("/\0", 2)) == std::string::npos;
    if (!plain_name) {
      return absl::InvalidArgumentError(absl::StrCat(Where(index_path, item.key()), ": shard ", Excerpt(item.value()),
                                                     " is not a plain file name inside the directory"));
    }
    shards[shard].push_back(item.key());
  }
  return shards;
}

absl::StatusOr<TensorMap> ReadShardedCheckpoint(const std::string& dir, const std::string& index_path,
                                                const TensorLoadOptions& options) {
  MUKE_ASSIGN_OR_RETURN(const ShardMap shards, ReadIndex(index_path));
  TensorMap tensors;
  for (const auto& [shard, names] : shards) {
    MUKE_ASSIGN_OR_RETURN(TensorMap shard_tensors, ReadSafetensors(JoinPath(dir, shard), options));
    for (const std::string& name : names) {
      auto found = shard_tensors.find(name);
      if (found == shard_tensors.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat(Where(index_path, name), ": mapped to shard ", shard, ", which does not contain it"));
      }
      tensors[name] = std::move(found->second);
    }
  }
  return tensors;
}

// Bytes of a tensor's data; 0 for an undefined tensor (which the writer then rejects).
uint64_t TensorBytes(const torch::Tensor& tensor) {
  return tensor.defined() ? tensor.numel() * tensor.element_size() : 0;
}

// Splits the (name-ordered) tensors greedily into shards of at most `max_shard_bytes`; an oversized tensor gets
// a shard of its own.
std::vector<TensorMap> SplitIntoShards(const TensorMap& tensors, uint64_t max_shard_bytes) {
  std::vector<TensorMap> shards(1);
  uint64_t shard_bytes = 0;
  for (const auto& [name, tensor] : tensors) {
    const uint64_t nbytes = TensorBytes(tensor);
    if (!shards.back().empty() && shard_bytes + nbytes > max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back()[name] = tensor;
    shard_bytes += nbytes;
  }
  return shards;
}

// Removes the `model*.safetensors*` files of `dir` that are not in `keep`. The index goes first, so that a
// reader never pairs an old index with new files.
absl::Status RemoveStaleFiles(const std::string& dir, const std::set<std::string>& keep) {
  std::vector<std::string> stale;
  std::error_code error;
  for (std::filesystem::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (absl::StartsWith(name, "model") && absl::StrContains(name, ".safetensors") && keep.count(name) == 0) {
      stale.push_back(name);
    }
  }
  if (error) return absl::InternalError(absl::StrCat(dir, ": cannot list: ", error.message()));
  std::stable_partition(stale.begin(), stale.end(), [](const std::string& name) { return name == kIndexFileName; });
  for (const std::string& name : stale) {
    const std::string path = JoinPath(dir, name);
    if (unlink(path.c_str()) != 0 && errno != ENOENT) return absl::ErrnoToStatus(errno, path + ": cannot remove");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SafetensorsHeader> ReadSafetensorsHeader(const std::string& path) {
  MUKE_ASSIGN_OR_RETURN(MappedFile file, MappedFile::Open(path));
  MUKE_ASSIGN_OR_RETURN(ParsedFile parsed, ParseFile(path, file));
  return std::move(parsed.header);
}

absl::StatusOr<TensorMap> ReadSafetensors(const std::string& path, const TensorLoadOptions& options) {
  MUKE_ASSIGN_OR_RETURN(MappedFile file, MappedFile::Open(path));
  MUKE_ASSIGN_OR_RETURN(ParsedFile parsed, ParseFile(path, file));
  TensorMap tensors;
  for (const TensorInfo& info : parsed.header.tensors) {
    MUKE_ASSIGN_OR_RETURN(tensors[info.name], LoadTensor(path, info, file.data() + parsed.data_start, options));
  }
  return tensors;
}

absl::Status WriteSafetensors(const std::string& path, const TensorMap& tensors,
                              const std::map<std::string, std::string>& metadata) {
  std::vector<torch::Tensor> contiguous;  // keeps the bytes of every chunk alive until written
  std::vector<FileChunk> chunks;
  json header = json::object();
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name == kMetadataKey) return absl::InvalidArgumentError(Where(path, name) + ": the name is reserved");
    const std::optional<std::string> dtype = tensor.defined() ? DtypeToName(tensor.scalar_type()) : std::nullopt;
    if (!dtype) return absl::InvalidArgumentError(Where(path, name) + ": undefined tensor or unsupported dtype");
    MUKE_ASSIGN_OR_RETURN(torch::Tensor cpu, CatchExceptions(Where(path, name), [&]() -> absl::StatusOr<torch::Tensor> {
                            return tensor.to(torch::kCPU).contiguous();
                          }));
    const uint64_t nbytes = cpu.nbytes();
    header[name] = {
        {"dtype", *dtype}, {"shape", cpu.sizes().vec()}, {"data_offsets", json::array({offset, offset + nbytes})}};
    offset += nbytes;
    chunks.push_back({cpu.data_ptr(), nbytes});
    contiguous.push_back(std::move(cpu));
  }
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception&) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": tensor names and metadata must be valid UTF-8"));
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // with the 8-byte length, the data section starts 8-byte aligned
  std::string head(8, '\0');
  for (int i = 0; i < 8; ++i) head[i] = static_cast<char>(uint64_t{text.size()} >> (8 * i));
  head += text;
  chunks.insert(chunks.begin(), {head.data(), head.size()});
  return WriteFileAtomically(path, chunks);
}

absl::StatusOr<TensorMap> ReadCheckpointTensors(const std::string& dir, const TensorLoadOptions& options) {
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::NotFoundError(absl::StrCat(dir, ": no such directory"));
  }
  const std::string index_path = JoinPath(dir, kIndexFileName);
  if (access(index_path.c_str(), F_OK) == 0) return ReadShardedCheckpoint(dir, index_path, options);
  const std::string single_path = JoinPath(dir, kSingleFileName);
  if (access(single_path.c_str(), F_OK) == 0) return ReadSafetensors(single_path, options);
  return absl::NotFoundError(absl::StrCat(dir, ": holds neither ", kIndexFileName, " nor ", kSingleFileName));
}

absl::Status WriteCheckpointTensors(const std::string& dir, const TensorMap& tensors, uint64_t max_shard_bytes) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) return absl::ErrnoToStatus(error.value(), absl::StrCat(dir, ": cannot create directory"));
  // Hugging Face loaders expect {"format": "pt"} in every file's metadata.
  const std::map<std::string, std::string> metadata = {{"format", "pt"}};
  uint64_t total_size = 0;
  for (const auto& [name, tensor] : tensors) total_size += TensorBytes(tensor);

  std::set<std::string> written;
  if (total_size <= max_shard_bytes) {
    MUKE_RETURN_IF_ERROR(WriteSafetensors(JoinPath(dir, kSingleFileName), tensors, metadata));
    written.insert(kSingleFileName);
  } else {
    const std::vector<TensorMap> shards = SplitIntoShards(tensors, max_shard_bytes);
    json weight_map = json::object();
    for (size_t i = 0; i < shards.size(); ++i) {
      char shard[64];
      std::snprintf(shard, sizeof(shard), "model-%05zu-of-%05zu.safetensors", i + 1, shards.size());
      MUKE_RETURN_IF_ERROR(WriteSafetensors(JoinPath(dir, shard), shards[i], metadata));
      for (const auto& [name, tensor] : shards[i]) weight_map[name] = shard;
      written.insert(shard);
    }
    // Every name was already dumped (and so checked to be UTF-8) by WriteSafetensors, so this cannot throw.
    const std::string index =
        json{{"metadata", {{"total_size", total_size}}}, {"weight_map", weight_map}}.dump(2) + "\n";
    MUKE_RETURN_IF_ERROR(WriteFileAtomically(JoinPath(dir, kIndexFileName), {{index.data(), index.size()}}));
    written.insert(kIndexFileName);
  }
  return RemoveStaleFiles(dir, written);
}

}  // namespace muke
