#include "core/util/file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace muke {

absl::Status WriteAll(int fd, const void* data, size_t size, const std::string& path) {
  const char* next = static_cast<const char*>(data);
  for (size_t left = size; left > 0;) {
    const ssize_t written = write(fd, next, std::min<size_t>(left, 1u << 30));
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) return absl::ErrnoToStatus(errno, absl::StrCat(path, ": write failed"));
    next += written;
    left -= written;
  }
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(const std::string& path, const std::vector<FileChunk>& chunks) {
  const std::string temp = absl::StrCat(path, ".tmp.", getpid());
  const int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat(temp, ": cannot create"));
  absl::Status status;
  for (const FileChunk& chunk : chunks) {
    status = WriteAll(fd, chunk.data, chunk.size, temp);
    if (!status.ok()) break;
  }
  if (status.ok() && fsync(fd) != 0) status = absl::ErrnoToStatus(errno, absl::StrCat(temp, ": fsync failed"));
  if (close(fd) != 0 && status.ok()) status = absl::ErrnoToStatus(errno, absl::StrCat(temp, ": close failed"));
  if (status.ok() && rename(temp.c_str(), path.c_str()) != 0) {
    status = absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot rename ", temp, " over it"));
  }
  if (!status.ok()) {
    unlink(temp.c_str());
    return status;
  }
  const std::string dir = std::filesystem::path(path).parent_path().string();
  return FsyncDirectory(dir.empty() ? "." : dir);
}

absl::Status FsyncDirectory(const std::string& dir) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat(dir, ": cannot open directory"));
  const int result = fsync(fd);
  const int error = errno;
  close(fd);
  return result == 0 ? absl::OkStatus() : absl::ErrnoToStatus(error, absl::StrCat(dir, ": fsync failed"));
}

absl::StatusOr<std::string> ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return errno == ENOENT ? absl::NotFoundError(absl::StrCat(path, ": no such file"))
                           : absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot open"));
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read failed"));
  return std::move(content).str();
}

}  // namespace muke
