#include "server/shutdown_signal.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace muke::server {
namespace {

// Self-pipe: the handler writes the signal number, WaitForShutdownSignal reads it.
int pipe_fds[2] = {-1, -1};

void OnSignal(int signal) {
  const int saved_errno = errno;
  const unsigned char byte = static_cast<unsigned char>(signal);
  (void)!write(pipe_fds[1], &byte, 1);
  errno = saved_errno;
}

}  // namespace

absl::Status InstallShutdownSignalHandlers() {
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  struct sigaction action = {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART | SA_RESETHAND;
  for (int signal : {SIGTERM, SIGINT}) {
    if (sigaction(signal, &action, nullptr) != 0) {
      return absl::InternalError(absl::StrCat("sigaction: ", std::strerror(errno)));
    }
  }
  return absl::OkStatus();
}

int WaitForShutdownSignal() {
  unsigned char byte = 0;
  ssize_t n;
  do {
    n = read(pipe_fds[0], &byte, 1);
  } while (n < 0 && errno == EINTR);
  return n == 1 ? byte : 0;
}

}  // namespace muke::server
