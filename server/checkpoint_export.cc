#include "server/checkpoint_export.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include <google/protobuf/util/time_util.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/util/file_io.h"
#include "core/util/status.h"

namespace muke::server {
namespace {

namespace fs = std::filesystem;
using google::protobuf::util::TimeUtil;

constexpr size_t kMaxPathBytes = 255;
constexpr char kManifestFile[] = "muke_manifest.json";
// Files of a Hugging Face model directory besides config.json and the weights, copied when the source has them.
constexpr const char* kTokenizerFiles[] = {
    "tokenizer.json",      "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json",
    "added_tokens.json",   "vocab.json",            "merges.txt",      "generation_config.json",
    "chat_template.jinja", "chat_template.json"};

absl::Status InvalidPath(const std::string& path, const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat("path: '", path, "' ", problem));
}

nlohmann::json Manifest(const ServedModel& model, const std::vector<muke::v1::Edit>& edits) {
  nlohmann::json list = nlohmann::json::array();
  for (const muke::v1::Edit& edit : edits) {
    const muke::v1::EditKnowledgeRequest& r = edit.request();
    list.push_back({{"id", edit.id()},
                    {"request_id", edit.request_id()},
                    {"prompt", r.prompt()},
                    {"target", r.target()},
                    {"strategy", r.strategy().empty() ? "muke" : r.strategy()},
                    {"update", r.update().empty() ? "memit" : r.update()},
                    {"committed", TimeUtil::ToString(edit.update_time())},
                    {"verified_char_bleu", edit.metrics().char_bleu()}});
  }
  return {{"format", "muke-export/1"},
          {"created", TimeUtil::ToString(TimeUtil::GetCurrentTime())},
          {"source_model_dir", model.dir()},
          {"dtype", DtypeName(model.dtype())},
          {"edits", list}};
}

absl::Status WriteText(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary);
  out << text;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat(file.string(), ": write failed"));
  return absl::OkStatus();
}

// Everything into `dir` (fresh and empty).
absl::Status WriteDirectory(const ServedModel& model, const fs::path& dir, uint64_t max_shard_bytes,
                            const std::vector<muke::v1::Edit>& edits) {
  MUKE_RETURN_IF_ERROR(model.Save(dir.string(), max_shard_bytes));
  for (const char* name : kTokenizerFiles) {
    const fs::path source = fs::path(model.dir()) / name;
    std::error_code error;
    if (!fs::exists(source, error)) continue;
    fs::copy_file(source, dir / name, error);
    if (error) return absl::InternalError(absl::StrCat(source.string(), ": cannot copy: ", error.message()));
  }
  MUKE_RETURN_IF_ERROR(WriteText(dir / kManifestFile, Manifest(model, edits).dump(2) + "\n"));
  return FsyncDirectory(dir.string());
}

}  // namespace

absl::Status CheckExportPath(const std::string& path) {
  if (path.size() > kMaxPathBytes) {
    return InvalidPath(path.substr(0, 32) + "...", absl::StrCat("is longer than ", kMaxPathBytes, " bytes"));
  }
  if (!path.empty() && path.front() == '/') return InvalidPath(path, "must be relative to the export directory");
  for (const absl::string_view component : absl::StrSplit(path, '/')) {
    if (component.empty() || component == "." || component == "..") {
      return InvalidPath(path, "must not have empty, '.' or '..' components");
    }
    const bool plain = std::all_of(component.begin(), component.end(), [](char c) {
      return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    });
    if (!plain) return InvalidPath(path, "may only hold [A-Za-z0-9._-] and '/'");
  }
  return absl::OkStatus();
}

absl::StatusOr<ExportedCheckpoint> ExportCheckpoint(const ServedModel& model, const std::string& export_root,
                                                    const std::string& path, bool overwrite,
                                                    uint64_t max_shard_bytes,
                                                    const std::vector<muke::v1::Edit>& edits) {
  MUKE_RETURN_IF_ERROR(CheckExportPath(path));
  const fs::path target = fs::path(export_root) / path;
  std::error_code error;
  if (fs::exists(target, error) && !overwrite) {
    return absl::AlreadyExistsError(absl::StrCat("path: '", path, "' exists in the export directory (set overwrite)"));
  }
  fs::create_directories(target.parent_path(), error);
  if (error) {
    return absl::InternalError(absl::StrCat(target.parent_path().string(), ": cannot create: ", error.message()));
  }

  const fs::path staging = target.parent_path() / absl::StrCat(".", target.filename().string(), ".partial-", getpid());
  const fs::path replaced = target.parent_path() / absl::StrCat(".", target.filename().string(), ".old-", getpid());
  fs::remove_all(staging, error);
  fs::create_directory(staging, error);
  if (error) return absl::InternalError(absl::StrCat(staging.string(), ": cannot create: ", error.message()));
  absl::Status status = WriteDirectory(model, staging, max_shard_bytes, edits);
  if (status.ok() && fs::exists(target, error)) fs::rename(target, replaced, error);
  if (status.ok() && !error) fs::rename(staging, target, error);
  if (status.ok() && error) {
    status = absl::InternalError(absl::StrCat(target.string(), ": cannot move into place: ", error.message()));
  }
  if (status.ok()) status = FsyncDirectory(target.parent_path().string());
  fs::remove_all(replaced, error);
  if (!status.ok()) {
    fs::remove_all(staging, error);
    return status;
  }

  ExportedCheckpoint exported;
  exported.dir = target.string();
  for (const fs::directory_entry& entry : fs::directory_iterator(target, error)) {
    exported.files.push_back(entry.path().filename().string());
    exported.bytes += static_cast<int64_t>(entry.file_size(error));
  }
  std::sort(exported.files.begin(), exported.files.end());
  return exported;
}

}  // namespace muke::server
