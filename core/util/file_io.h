// Small POSIX file helpers shared by the writers that must survive a crash (safetensors, the edit journal):
// write everything or fail, replace a file atomically, fsync a directory so that a created or renamed entry is
// durable, read a whole file.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace muke {

// Writes all `size` bytes at `data` to `fd` (retrying short writes and EINTR); errors name `path`.
absl::Status WriteAll(int fd, const void* data, size_t size, const std::string& path);

// A piece of the content of a file to write.
struct FileChunk {
  const void* data;
  size_t size;
};

// Writes `chunks` to `path` atomically: `<path>.tmp.<pid>`, fsync, rename over `path`, fsync of the directory.
// On failure the temporary file is removed and `path` is untouched.
absl::Status WriteFileAtomically(const std::string& path, const std::vector<FileChunk>& chunks);

// fsyncs the directory `dir`, making the entries created, renamed or removed in it durable.
absl::Status FsyncDirectory(const std::string& dir);

// The whole content of `path`; NotFound when it does not exist.
absl::StatusOr<std::string> ReadFileBytes(const std::string& path);

}  // namespace muke
