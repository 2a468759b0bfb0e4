// Tests of the safetensors reader/writer: bit-exact round trips, the on-disk layout, sharded checkpoints,
// conversion on load, and rejection of corrupt input with errors that name the file, tensor and problem.
#include "core/model/safetensors.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <torch/torch.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"

namespace muke {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteBytes(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

// The 8-byte little-endian length prefix of a safetensors file.
std::string LengthPrefix(uint64_t length) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(length >> (8 * i));
  return bytes;
}

// A safetensors file made of `header` (JSON text) and `data`.
std::string FileBytes(const std::string& header, const std::string& data = "") {
  return LengthPrefix(header.size()) + header + data;
}

// The raw bytes of a CPU tensor.
std::string TensorBytes(const torch::Tensor& tensor) {
  const torch::Tensor contiguous = tensor.contiguous();
  return std::string(static_cast<const char*>(contiguous.data_ptr()), contiguous.nbytes());
}

std::set<std::string> FileNames(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename().string());
  return names;
}

// Same names, dtypes, shapes and bytes.
void ExpectIdentical(const TensorMap& expected, const TensorMap& actual) {
  ASSERT_EQ(expected.size(), actual.size());
  for (const auto& [name, tensor] : expected) {
    SCOPED_TRACE(name);
    ASSERT_EQ(actual.count(name), 1u);
    const torch::Tensor& other = actual.at(name);
    ASSERT_EQ(tensor.scalar_type(), other.scalar_type());
    ASSERT_EQ(tensor.sizes(), other.sizes());
    EXPECT_TRUE(torch::equal(tensor, other));
    EXPECT_EQ(TensorBytes(tensor), TensorBytes(other));
  }
}

// One tensor of every supported dtype, with random values, a scalar, an empty and a non-contiguous tensor.
TensorMap AllDtypeTensors() {
  torch::manual_seed(7);
  return {
      {"f32", torch::randn({3, 4})},
      {"bf16", torch::randn({5, 7}).to(torch::kBFloat16)},
      {"f16", torch::randn({2, 3, 4}).to(torch::kFloat16)},
      {"f64", torch::randn({6}, torch::kFloat64)},
      {"i64", torch::randint(-1000000, 1000000, {4, 2}, torch::kInt64)},
      {"i32", torch::randint(-100000, 100000, {9}, torch::kInt32)},
      {"i16", torch::randint(-30000, 30000, {3}, torch::kInt16)},
      {"i8", torch::randint(-128, 128, {5}, torch::kInt8)},
      {"u8", torch::randint(0, 256, {2, 8}, torch::kUInt8)},
      {"bool", torch::randint(0, 2, {11}).to(torch::kBool)},
      {"scalar", torch::tensor(3.5f)},
      {"empty", torch::empty({0, 3})},
      {"transposed", torch::randn({4, 3}).t()},
  };
}

// Each test gets a fresh directory under the GoogleTest temp dir.
class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "safetensors_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (fs::path(dir_) / name).string(); }

  std::string dir_;
};

TEST_F(SafetensorsTest, RoundTripIsBitExactForEveryDtype) {
  const TensorMap tensors = AllDtypeTensors();
  const std::string path = Path("all.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, tensors, {{"format", "pt"}, {"note", "round trip"}}).ok());

  absl::StatusOr<TensorMap> read = ReadSafetensors(path);
  ASSERT_TRUE(read.ok()) << read.status();
  ExpectIdentical(tensors, *read);
  EXPECT_EQ(read->at("scalar").dim(), 0);
  EXPECT_EQ(read->at("empty").numel(), 0);
  EXPECT_EQ(TensorBytes(tensors.at("bf16")), TensorBytes(read->at("bf16")));

  absl::StatusOr<SafetensorsHeader> header = ReadSafetensorsHeader(path);
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(header->metadata, (std::map<std::string, std::string>{{"format", "pt"}, {"note", "round trip"}}));
  ASSERT_EQ(header->tensors.size(), tensors.size());
  EXPECT_EQ(header->tensors.front().name, "bf16");  // sorted by name
  EXPECT_EQ(header->tensors.front().dtype, torch::kBFloat16);
  EXPECT_EQ(header->tensors.front().shape, (std::vector<int64_t>{5, 7}));
}

TEST_F(SafetensorsTest, WrittenFileFollowsTheFormat) {
  const TensorMap tensors = AllDtypeTensors();
  const std::string path = Path("layout.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, tensors, {{"format", "pt"}}).ok());

  const std::string bytes = ReadBytes(path);
  ASSERT_GE(bytes.size(), 8u);
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | static_cast<uint8_t>(bytes[i]);
  const uint64_t data_start = 8 + header_size;
  ASSERT_LE(data_start, bytes.size());
  EXPECT_EQ(data_start % 8, 0u);
  const json header = json::parse(bytes.substr(8, header_size));
  EXPECT_EQ(header["__metadata__"], json({{"format", "pt"}}));

  uint64_t offset = 0;  // tensors are laid out back to back in name order
  for (const auto& [name, tensor] : tensors) {
    SCOPED_TRACE(name);
    const json& entry = header.at(name);
    EXPECT_EQ(entry["shape"].get<std::vector<int64_t>>(), tensor.sizes().vec());
    const uint64_t begin = entry["data_offsets"][0], end = entry["data_offsets"][1];
    EXPECT_EQ(begin, offset);
    EXPECT_EQ(end - begin, static_cast<uint64_t>(tensor.numel() * tensor.element_size()));
    EXPECT_EQ(bytes.substr(data_start + begin, end - begin), TensorBytes(tensor));
    offset = end;
  }
  EXPECT_EQ(header.at("bf16")["dtype"], "BF16");
  EXPECT_EQ(header.at("bool")["dtype"], "BOOL");
  EXPECT_EQ(data_start + offset, bytes.size());
  EXPECT_FALSE(fs::exists(path + ".tmp." + std::to_string(getpid())));
}

TEST_F(SafetensorsTest, ShardedCheckpointRoundTripsAndStaleLayoutsAreRemoved) {
  torch::manual_seed(3);
  TensorMap tensors;
  for (int i = 0; i < 5; ++i) tensors["layer." + std::to_string(i) + ".weight"] = torch::randn({16, 16});  // 1 KiB
  tensors["norm"] = torch::randn({16}).to(torch::kBFloat16);

  ASSERT_TRUE(WriteCheckpointTensors(dir_, tensors, /*max_shard_bytes=*/2048).ok());
  EXPECT_EQ(FileNames(dir_),
            (std::set<std::string>{"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                                   "model-00003-of-00003.safetensors", "model.safetensors.index.json"}));
  const json index = json::parse(ReadBytes(Path("model.safetensors.index.json")));
  EXPECT_EQ(index["metadata"]["total_size"], 5 * 1024 + 32);
  EXPECT_EQ(index["weight_map"]["layer.0.weight"], "model-00001-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["norm"], "model-00003-of-00003.safetensors");
  absl::StatusOr<TensorMap> read = ReadCheckpointTensors(dir_);
  ASSERT_TRUE(read.ok()) << read.status();
  ExpectIdentical(tensors, *read);

  // Re-export as one file: the shards and the index must go.
  ASSERT_TRUE(WriteCheckpointTensors(dir_, tensors).ok());
  EXPECT_EQ(FileNames(dir_), (std::set<std::string>{"model.safetensors"}));
  read = ReadCheckpointTensors(dir_);
  ASSERT_TRUE(read.ok()) << read.status();
  ExpectIdentical(tensors, *read);

  // And back to shards: the single file must go.
  ASSERT_TRUE(WriteCheckpointTensors(dir_, tensors, /*max_shard_bytes=*/4096).ok());
  EXPECT_EQ(FileNames(dir_),
            (std::set<std::string>{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                                   "model.safetensors.index.json"}));
  read = ReadCheckpointTensors(dir_);
  ASSERT_TRUE(read.ok()) << read.status();
  ExpectIdentical(tensors, *read);
}

TEST_F(SafetensorsTest, ShardTensorsAbsentFromTheIndexAreIgnored) {
  const TensorMap shard = {{"a", torch::ones({2})}, {"extra", torch::zeros({3})}};
  ASSERT_TRUE(WriteSafetensors(Path("model-00001-of-00001.safetensors"), shard).ok());
  WriteBytes(Path("model.safetensors.index.json"), R"({"weight_map": {"a": "model-00001-of-00001.safetensors"}})");
  absl::StatusOr<TensorMap> read = ReadCheckpointTensors(dir_);
  ASSERT_TRUE(read.ok()) << read.status();
  ExpectIdentical({{"a", shard.at("a")}}, *read);
}

TEST_F(SafetensorsTest, LoadConvertsOnlyFloatingTensors) {
  torch::manual_seed(5);
  const TensorMap tensors = {{"weight", torch::randn({4, 4})},
                             {"ids", torch::arange(10, torch::kInt64)},
                             {"mask", torch::ones({3}, torch::kBool)}};
  const std::string path = Path("convert.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, tensors).ok());

  TensorLoadOptions options;
  options.device = torch::kCPU;
  options.dtype = torch::kBFloat16;
  absl::StatusOr<TensorMap> read = ReadSafetensors(path, options);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->at("weight").scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(read->at("weight"), tensors.at("weight").to(torch::kBFloat16)));
  ExpectIdentical({{"ids", tensors.at("ids")}, {"mask", tensors.at("mask")}},
                  {{"ids", read->at("ids")}, {"mask", read->at("mask")}});
}

TEST_F(SafetensorsTest, WriterRejectsUnsupportedTensorsAndUnwritableDirectories) {
  absl::Status status = WriteSafetensors(Path("complex.safetensors"), {{"z", torch::zeros({2}, torch::kComplexFloat)}});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(status.message(), "tensor 'z'")) << status;
  EXPECT_EQ(FileNames(dir_), std::set<std::string>{});

  status = WriteSafetensors(Path("missing/dir/x.safetensors"), {{"x", torch::zeros({2})}});
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(status.message(), "missing/dir/x.safetensors")) << status;
}

TEST_F(SafetensorsTest, TruncatedOrMutatedFilesNeverCrashTheReader) {
  const std::string path = Path("fuzz.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"a", torch::arange(6, torch::kFloat32)}, {"b", torch::ones({2}, torch::kBool)}},
                               {{"k", "v"}})
                  .ok());
  const std::string valid = ReadBytes(path);
  for (size_t length = 0; length < valid.size(); ++length) {
    WriteBytes(path, valid.substr(0, length));
    EXPECT_FALSE(ReadSafetensors(path).ok()) << "length " << length;
  }
  torch::manual_seed(11);
  for (int trial = 0; trial < 500; ++trial) {
    std::string mutated = valid;
    const int64_t position = torch::randint(static_cast<int64_t>(mutated.size()), {1}).item<int64_t>();
    mutated[position] = static_cast<char>(torch::randint(256, {1}).item<int64_t>());
    WriteBytes(path, mutated);
    (void)ReadSafetensors(path);  // any result is fine as long as it is a Status
  }
}

// A corrupt input: how to build it under a directory and how reading it must fail.
struct CorruptCase {
  std::string name;
  std::function<std::string(const std::string& dir)> make;  // builds the input, returns the path to read
  bool checkpoint;  // read the returned directory with ReadCheckpointTensors instead of ReadSafetensors
  absl::StatusCode code;
  std::vector<std::string> substrings;  // expected in the message besides the path
};

void PrintTo(const CorruptCase& c, std::ostream* os) { *os << c.name; }

CorruptCase FileCase(std::string name, std::string bytes, absl::StatusCode code, std::vector<std::string> substrings) {
  auto make = [bytes](const std::string& dir) {
    const std::string path = dir + "/model.safetensors";
    WriteBytes(path, bytes);
    return path;
  };
  return {std::move(name), make, false, code, std::move(substrings)};
}

// A checkpoint directory with one valid shard holding tensor "a", plus `index` as its index file.
CorruptCase IndexCase(std::string name, std::string index, absl::StatusCode code, std::vector<std::string> substrings) {
  auto make = [index](const std::string& dir) {
    EXPECT_TRUE(WriteSafetensors(dir + "/model-00001-of-00002.safetensors", {{"a", torch::ones({2})}}).ok());
    WriteBytes(dir + "/model.safetensors.index.json", index);
    return dir;
  };
  return {std::move(name), make, true, code, std::move(substrings)};
}

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;
constexpr absl::StatusCode kDataLoss = absl::StatusCode::kDataLoss;
constexpr absl::StatusCode kNotFound = absl::StatusCode::kNotFound;

const std::string kF32x2 = R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})";

std::vector<CorruptCase> CorruptCases() {
  return {
      FileCase("EmptyFile", "", kDataLoss, {"too short"}),
      FileCase("TruncatedLength", std::string("\x05\0\0", 3), kDataLoss, {"too short"}),
      FileCase("HeaderLengthBeyondFile", LengthPrefix(1000) + "{}", kDataLoss, {"header length 1000"}),
      FileCase("AbsurdHeaderLength", LengthPrefix(1ull << 40) + "{}", kInvalid, {"exceeds the limit"}),
      FileCase("HeaderNotJson", FileBytes("{\"w\": "), kInvalid, {"not valid JSON"}),
      FileCase("HeaderIsArray", FileBytes("[1, 2]"), kInvalid, {"not a JSON object"}),
      FileCase("EntryNotObject", FileBytes(R"({"w": 5})"), kInvalid, {"tensor 'w'", "not a JSON object"}),
      FileCase("MissingDtype", FileBytes(R"({"w": {"shape": [1], "data_offsets": [0, 4]}})", "1234"), kInvalid,
               {"tensor 'w'", "\"dtype\""}),
      FileCase("UnknownDtype", FileBytes(R"({"w": {"dtype": "Q4", "shape": [1], "data_offsets": [0, 4]}})", "1234"),
               kInvalid, {"tensor 'w'", "unknown dtype \"Q4\""}),
      FileCase("NegativeShape", FileBytes(R"({"w": {"dtype": "F32", "shape": [-1, 4], "data_offsets": [0, 4]}})"),
               kInvalid, {"tensor 'w'", "shape [-1,4] is not a list of non-negative integers"}),
      FileCase("NonIntegerShape", FileBytes(R"({"w": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}})"),
               kInvalid, {"tensor 'w'", "non-negative integers"}),
      FileCase("ShapeOverflow",
               FileBytes(R"({"w": {"dtype": "F32", "shape": [4611686018427387904, 4], "data_offsets": [0, 0]}})"),
               kInvalid, {"tensor 'w'", "overflows"}),
      FileCase("OffsetsNotAPair", FileBytes(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", "1234"),
               kInvalid, {"tensor 'w'", "\"data_offsets\" is not two non-negative integers"}),
      FileCase("BeginAfterEnd",
               FileBytes(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}})", std::string(8, '\0')),
               kInvalid, {"tensor 'w'", "data_offsets [8, 4] have begin > end"}),
      FileCase("OffsetsPastEndOfData",
               FileBytes(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [4096, 4104]}})", "12345678"),
               kDataLoss, {"tensor 'w'", "beyond the data section of 8 bytes"}),
      FileCase("TruncatedDataSection", FileBytes(kF32x2, "1234"), kDataLoss, {"tensor 'w'", "truncated"}),
      FileCase("ShapeSizeMismatch",
               FileBytes(R"({"model.layers.0.mlp.up_proj.weight": {"dtype": "F32", "shape": [172, 1],)"
                         R"( "data_offsets": [0, 400]}})",
                         std::string(400, '\0')),
               kInvalid,
               {"tensor 'model.layers.0.mlp.up_proj.weight'", "data_offsets [0, 400] hold 400 bytes",
                "shape [172, 1] of F32 needs 688"}),
      FileCase("OverlappingTensors",
               FileBytes(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                         R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                         std::string(12, '\0')),
               kInvalid, {"tensor 'b'", "overlap those of tensor 'a' [0, 8]"}),
      FileCase("MetadataNotStrings", FileBytes(R"({"__metadata__": {"format": 1}})"), kInvalid,
               {"\"__metadata__\" is not an object of strings"}),
      FileCase("MetadataNotObject", FileBytes(R"({"__metadata__": ["pt"]})"), kInvalid, {"__metadata__"}),
      FileCase(
          "BoolByteOutOfRange",
          FileBytes(R"({"m": {"dtype": "BOOL", "shape": [2], "data_offsets": [0, 2]}})", std::string("\x01\x07", 2)),
          kInvalid, {"tensor 'm'", "BOOL data holds a byte other than 0 or 1"}),
      {"MissingFile",
       [](const std::string& dir) { return dir + "/absent.safetensors"; },
       false,
       kNotFound,
       {"cannot open"}},
      IndexCase("IndexMissingShard",
                R"({"weight_map": {"a": "model-00001-of-00002.safetensors",)"
                R"( "b": "model-00002-of-00002.safetensors"}})",
                kNotFound, {"model-00002-of-00002.safetensors"}),
      IndexCase("IndexPathTraversal", R"({"weight_map": {"a": "../model-00001-of-00002.safetensors"}})", kInvalid,
                {"model.safetensors.index.json", "tensor 'a'", "not a plain file name"}),
      IndexCase("IndexTensorMissingFromShard",
                R"({"weight_map": {"a": "model-00001-of-00002.safetensors",)"
                R"( "z": "model-00001-of-00002.safetensors"}})",
                kInvalid, {"model.safetensors.index.json", "tensor 'z'", "model-00001-of-00002.safetensors"}),
      IndexCase("IndexNotJson", "{weight_map", kInvalid, {"model.safetensors.index.json", "not a JSON object"}),
      IndexCase("IndexWithoutWeightMap", R"({"metadata": {}})", kInvalid, {"\"weight_map\""}),
      {"MissingDirectory",
       [](const std::string& dir) { return dir + "/absent"; },
       true,
       kNotFound,
       {"no such directory"}},
      {"EmptyDirectory",
       [](const std::string& dir) { return dir; },
       true,
       kNotFound,
       {"model.safetensors.index.json", "model.safetensors"}},
  };
}

class CorruptInputTest : public SafetensorsTest, public ::testing::WithParamInterface<CorruptCase> {};

TEST_P(CorruptInputTest, FailsWithCodeAndMessage) {
  const CorruptCase& c = GetParam();
  const std::string path = c.make(dir_);
  const absl::Status status = c.checkpoint ? ReadCheckpointTensors(path).status() : ReadSafetensors(path).status();
  EXPECT_EQ(status.code(), c.code) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), path)) << status;
  for (const std::string& substring : c.substrings) {
    EXPECT_TRUE(absl::StrContains(status.message(), substring)) << substring << " not in " << status;
  }
  if (!c.checkpoint && c.name != "BoolByteOutOfRange") {  // only data content is left to ReadSafetensors
    EXPECT_EQ(ReadSafetensorsHeader(path).status(), status);
  }
}

INSTANTIATE_TEST_SUITE_P(Safetensors, CorruptInputTest, ::testing::ValuesIn(CorruptCases()),
                         [](const ::testing::TestParamInfo<CorruptCase>& info) { return info.param.name; });

}  // namespace
}  // namespace muke
