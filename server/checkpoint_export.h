// ExportCheckpoint's work: the served weights written as a Hugging Face model directory (sharded safetensors
// with their index, config.json, the source model's tokenizer and chat-template files) plus
// muke_manifest.json listing the committed edits they contain, always inside the export root.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "muke/v1/knowledge_editor.pb.h"
#include "server/served_model.h"

namespace muke::server {

inline constexpr uint64_t kMinShardBytes = 1ull << 20;

// INVALID_ARGUMENT (naming `path`) unless it is relative and made of [A-Za-z0-9._-] components separated by
// '/', none "." or "..", at most 255 bytes.
absl::Status CheckExportPath(const std::string& path);

struct ExportedCheckpoint {
  std::string dir;                 // export_root/path
  std::vector<std::string> files;  // relative to dir, sorted
  int64_t bytes = 0;
};

// Writes the checkpoint into a temporary directory beside `export_root`/`path` and renames it into place, so
// that a reader never sees half an export (an existing directory is replaced only with `overwrite`, else
// ALREADY_EXISTS). `edits` are the committed edits the weights contain, oldest first. The caller keeps the
// weights from changing meanwhile (EditWorker::WithoutChanges).
absl::StatusOr<ExportedCheckpoint> ExportCheckpoint(const ServedModel& model, const std::string& export_root,
                                                    const std::string& path, bool overwrite,
                                                    uint64_t max_shard_bytes,
                                                    const std::vector<muke::v1::Edit>& edits);

}  // namespace muke::server
