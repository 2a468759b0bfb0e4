#include "server/edit_journal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/util/crc32c.h"
#include "core/util/file_io.h"
#include "core/util/status.h"

namespace muke::server {
namespace {

namespace fs = std::filesystem;

constexpr char kFileMagic[] = "MUKEJNL1";
constexpr size_t kFileMagicSize = 8;
constexpr uint32_t kRecordMagic = 0x524A4B4D;  // "MKJR" little-endian
constexpr size_t kRecordHeaderSize = 12;
// Records hold an Edit (its request is bounded by the server's limits); anything larger is damage.
constexpr uint32_t kMaxRecordBytes = 64u << 20;
constexpr char kWeightsDir[] = "weights";

std::string JournalPath(const std::string& dir) { return (fs::path(dir) / "edits.journal").string(); }

void PutU32(std::string* out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

uint32_t GetU32(const std::string& bytes, size_t pos) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[pos + i])) << (8 * i);
  return value;
}

std::string Frame(const JournalRecord& record) {
  const std::string payload = record.SerializeAsString();
  std::string length;
  PutU32(&length, static_cast<uint32_t>(payload.size()));
  std::string frame;
  PutU32(&frame, kRecordMagic);
  frame += length;
  PutU32(&frame, Crc32c(payload, Crc32c(length)));
  return frame + payload;
}

// The record at `pos` and its size, or why there is no valid record there.
absl::StatusOr<size_t> ParseRecord(const std::string& bytes, size_t pos, JournalRecord* record) {
  if (bytes.size() - pos < kRecordHeaderSize) {
    return absl::DataLossError(absl::StrCat("truncated record header (", bytes.size() - pos, " bytes)"));
  }
  if (GetU32(bytes, pos) != kRecordMagic) return absl::DataLossError("bad record magic");
  const uint32_t length = GetU32(bytes, pos + 4);
  if (length > kMaxRecordBytes) return absl::DataLossError(absl::StrCat("implausible record length ", length));
  if (length > bytes.size() - pos - kRecordHeaderSize) {
    return absl::DataLossError(absl::StrCat("truncated record (", length, " bytes promised, ",
                                            bytes.size() - pos - kRecordHeaderSize, " present)"));
  }
  const std::string_view payload(bytes.data() + pos + kRecordHeaderSize, length);
  if (Crc32c(payload, Crc32c(std::string_view(bytes.data() + pos + 4, 4))) != GetU32(bytes, pos + 8)) {
    return absl::DataLossError("checksum mismatch");
  }
  if (!record->ParseFromArray(payload.data(), static_cast<int>(payload.size())) || record->edit().id().empty()) {
    return absl::DataLossError("record does not parse");
  }
  return kRecordHeaderSize + length;
}

// Whether any valid record starts after `pos`.
bool ValidRecordAfter(const std::string& bytes, size_t pos) {
  JournalRecord record;
  for (size_t next = pos + 1; next + kRecordHeaderSize <= bytes.size(); ++next) {
    if (GetU32(bytes, next) == kRecordMagic && ParseRecord(bytes, next, &record).ok()) return true;
  }
  return false;
}

// weights/<plain file name>: a record cannot point outside the directory.
absl::Status CheckWeightsFile(const std::string& name) {
  const std::string prefix = absl::StrCat(kWeightsDir, "/");
  const std::string base = absl::StartsWith(name, prefix) ? name.substr(prefix.size()) : "";
  if (base.empty() || base.find('/') != std::string::npos || base == "." || base == "..") {
    return absl::DataLossError(absl::StrCat("journal record names weights file '", name, "' outside ", prefix));
  }
  return absl::OkStatus();
}

absl::Status Errno(const std::string& what) { return absl::ErrnoToStatus(errno, what); }

}  // namespace

EditJournal::EditJournal(std::string dir, int fd, int64_t size, int64_t weights_bytes, JournalOptions options)
    : dir_(std::move(dir)), fd_(fd), options_(options), size_(size), weights_bytes_(weights_bytes) {}

EditJournal::~EditJournal() { close(fd_); }

absl::StatusOr<std::unique_ptr<EditJournal>> EditJournal::Open(const std::string& dir, Contents* contents,
                                                               JournalOptions options) {
  *contents = {};
  std::error_code error;
  fs::create_directories(fs::path(dir) / kWeightsDir, error);
  if (error) return absl::InternalError(absl::StrCat(dir, ": cannot create the journal directory: ", error.message()));
  const std::string path = JournalPath(dir);
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Errno(absl::StrCat(path, ": cannot open"));
  auto fail = [fd](absl::Status status) {
    close(fd);
    return status;
  };
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    return fail(absl::FailedPreconditionError(absl::StrCat(path, ": in use by another process (flock)")));
  }

  absl::StatusOr<std::string> bytes = ReadFileBytes(path);
  if (!bytes.ok()) return fail(bytes.status());
  if (bytes->size() < kFileMagicSize && std::string(kFileMagic).compare(0, bytes->size(), *bytes) == 0) {
    // New, or torn while being created: (re)write the header.
    if (ftruncate(fd, 0) != 0) return fail(Errno(absl::StrCat(path, ": cannot truncate")));
    absl::Status status = WriteAll(fd, kFileMagic, kFileMagicSize, path);
    if (status.ok() && fdatasync(fd) != 0) status = Errno(absl::StrCat(path, ": fdatasync failed"));
    if (status.ok()) status = FsyncDirectory(dir);
    if (!status.ok()) return fail(status);
    *bytes = kFileMagic;
  } else if (bytes->compare(0, kFileMagicSize, kFileMagic) != 0) {
    return fail(absl::DataLossError(absl::StrCat(path, ": not a muke edit journal (bad magic)")));
  }

  size_t pos = kFileMagicSize;
  while (pos < bytes->size()) {
    JournalRecord record;
    absl::StatusOr<size_t> size = ParseRecord(*bytes, pos, &record);
    if (size.ok()) {
      contents->records.push_back(std::move(record));
      pos += *size;
      continue;
    }
    if (ValidRecordAfter(*bytes, pos)) {
      return fail(absl::DataLossError(absl::StrCat(
          path, ": damaged record at byte ", pos, " (", size.status().message(),
          ") is followed by valid records; refusing to guess which edits are committed — move the journal away "
          "to start empty, or restore it from a backup")));
    }
    // A torn or damaged tail: keep it for inspection, then cut it off.
    const std::string saved = absl::StrCat(path, ".corrupt-", std::time(nullptr));
    if (FILE* out = std::fopen(saved.c_str(), "wb")) {
      std::fwrite(bytes->data() + pos, 1, bytes->size() - pos, out);
      std::fclose(out);
    }
    if (ftruncate(fd, static_cast<off_t>(pos)) != 0 || fdatasync(fd) != 0) {
      return fail(Errno(absl::StrCat(path, ": cannot cut off the damaged tail")));
    }
    contents->repairs.push_back({"corrupt_record", absl::StrCat(path, ": cut off ", bytes->size() - pos, " bytes at byte ", pos, " (",
                                                                size.status().message(), "), saved to ", saved)});
    bytes->resize(pos);
    break;
  }

  // Weight files without a COMMITTED record belong to edits the server stopped before committing.
  std::set<std::string> referenced;
  for (const JournalRecord& record : contents->records) {
    if (record.edit().state() == muke::v1::EDIT_STATE_COMMITTED) referenced.insert(record.weights_file());
  }
  int64_t weights_bytes = 0;
  for (const fs::directory_entry& entry : fs::directory_iterator(fs::path(dir) / kWeightsDir, error)) {
    const std::string name = absl::StrCat(kWeightsDir, "/", entry.path().filename().string());
    if (referenced.count(name)) {
      weights_bytes += static_cast<int64_t>(entry.file_size(error));
    } else if (fs::remove(entry.path(), error)) {
      contents->repairs.push_back(
          {"orphan_weights", absl::StrCat(dir, "/", name, ": removed (no committed edit refers to it)")});
    }
  }
  return std::unique_ptr<EditJournal>(
      new EditJournal(dir, fd, static_cast<int64_t>(bytes->size()), weights_bytes, options));
}

absl::Status EditJournal::BindModel(const std::string& fingerprint, const std::string& model_dir) {
  const std::string path = (fs::path(dir_) / "model").string();
  absl::StatusOr<std::string> bound = ReadFileBytes(path);
  if (bound.ok()) {
    const std::string recorded = bound->substr(0, bound->find('\n'));
    if (recorded == fingerprint) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat(
        "the journal in ", dir_, " holds edits of the model with fingerprint ", recorded, ", but ", model_dir,
        " has fingerprint ", fingerprint, ": serve that model, or start with another data/journal directory"));
  }
  if (!absl::IsNotFound(bound.status())) return bound.status();
  const std::string text = absl::StrCat(fingerprint, "\n", model_dir, "\n");
  return WriteFileAtomically(path, {{text.data(), text.size()}});
}

absl::Status EditJournal::Append(const JournalRecord& record) {
  const std::string frame = Frame(record);
  const std::string path = JournalPath(dir_);
  std::lock_guard lock(mu_);
  if (++appended_ == options_.torn_write_record) {
    (void)WriteAll(fd_, frame.data(), frame.size() / 2, path);
    fdatasync(fd_);
    raise(SIGKILL);
  }
  absl::Status status = WriteAll(fd_, frame.data(), frame.size(), path);
  if (status.ok() && fdatasync(fd_) != 0) status = Errno(absl::StrCat(path, ": fdatasync failed"));
  if (!status.ok()) {
    // Leave no partial record behind for the next append to follow.
    if (ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
      return absl::DataLossError(absl::StrCat(status.message(), "; cutting the record off failed too"));
    }
    return status;
  }
  size_ += static_cast<int64_t>(frame.size());
  return absl::OkStatus();
}

absl::Status EditJournal::AppendCommit(const muke::v1::Edit& edit, const TensorMap& weights) {
  JournalRecord record;
  *record.mutable_edit() = edit;
  record.set_weights_file(absl::StrCat(kWeightsDir, "/", edit.id(), ".safetensors"));
  MUKE_RETURN_IF_ERROR(CheckWeightsFile(record.weights_file()));
  const std::string path = (fs::path(dir_) / record.weights_file()).string();
  MUKE_RETURN_IF_ERROR(WriteSafetensors(path, weights));
  absl::StatusOr<std::string> bytes = ReadFileBytes(path);
  absl::Status status = bytes.status();
  if (status.ok()) {
    record.set_weights_bytes(bytes->size());
    record.set_weights_crc32c(Crc32c(*bytes));
    status = Append(record);
  }
  if (!status.ok()) {
    std::error_code ignored;
    fs::remove(path, ignored);
    return status;
  }
  std::lock_guard lock(mu_);
  weights_bytes_ += static_cast<int64_t>(bytes->size());
  return absl::OkStatus();
}

absl::StatusOr<TensorMap> EditJournal::ReadWeights(const JournalRecord& record,
                                                   const TensorLoadOptions& options) const {
  MUKE_RETURN_IF_ERROR(CheckWeightsFile(record.weights_file()));
  const std::string path = (fs::path(dir_) / record.weights_file()).string();
  MUKE_ASSIGN_OR_RETURN(std::string bytes, ReadFileBytes(path));
  if (bytes.size() != record.weights_bytes() || Crc32c(bytes) != record.weights_crc32c()) {
    return absl::DataLossError(absl::StrCat(path, ": damaged (", bytes.size(), " bytes, CRC-32C ", Crc32c(bytes),
                                            "; the journal recorded ", record.weights_bytes(), " bytes, ",
                                            record.weights_crc32c(), ")"));
  }
  return ReadSafetensors(path, options);
}

int64_t EditJournal::size_bytes() const {
  std::lock_guard lock(mu_);
  return size_ + weights_bytes_;
}

}  // namespace muke::server
