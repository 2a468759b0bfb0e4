// The real muke-server as a child process on a loopback port, and the real `muke` client binary, for the
// integration tests (which define MUKE_SERVER_PATH and MUKE_CLIENT_PATH).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/test_util.h"

extern char** environ;

namespace muke::testing {

inline constexpr auto kStartTimeout = std::chrono::seconds(60);

inline std::chrono::system_clock::time_point In(std::chrono::seconds s) { return std::chrono::system_clock::now() + s; }

// A muke-server child process listening on 127.0.0.1:0 with its metrics on another free port (plus
// `extra_args`, which may override both); ready once it has printed its address.
class ServerProcess {
 public:
  explicit ServerProcess(const std::string& model_dir, const std::vector<std::string>& extra_args = {}) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe2 failed";
      return;
    }
    std::vector<std::string> argv = {MUKE_SERVER_PATH, "--model", model_dir, "--listen", "127.0.0.1:0",
                                     "--metrics-listen", "127.0.0.1:0"};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);  // the copy loses O_CLOEXEC
    const int rc = posix_spawn(&pid_, cargv[0], &actions, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    stdout_fd_ = fds[0];
    if (rc != 0) {
      ADD_FAILURE() << "cannot start " << cargv[0] << ": " << std::strerror(rc);
      pid_ = -1;
      return;
    }
    ReadAddress();
  }

  ~ServerProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (stdout_fd_ >= 0) close(stdout_fd_);
  }

  const std::string& address() const { return address_; }
  // HOST:PORT of the Prometheus endpoint (empty when the server serves none).
  const std::string& metrics_address() const { return metrics_address_; }
  const std::string& ready_line() const { return ready_line_; }

  // Sends SIGTERM and waits up to `timeout` for the process to end; its wait status, or nullopt on timeout.
  std::optional<int> Terminate(std::chrono::seconds timeout) { return Signal(SIGTERM, timeout); }
  // kill -9.
  std::optional<int> Kill() { return Signal(SIGKILL, std::chrono::seconds(10)); }
  // Waits up to `timeout` for the process to end by itself; its wait status, or nullopt.
  std::optional<int> WaitExit(std::chrono::seconds timeout) { return Signal(0, timeout); }

 private:
  // Sends `signal` (0: none) and waits up to `timeout` for the process to end.
  std::optional<int> Signal(int signal, std::chrono::seconds timeout) {
    if (pid_ <= 0) return std::nullopt;  // never kill(-1, ...)
    if (signal != 0) kill(pid_, signal);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return status;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return std::nullopt;
  }

  // Reads stdout up to the ready line `muke-server listening on ADDR (model DIR)`.
  void ReadAddress() {
    const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    while (ready_line_.find('\n') == std::string::npos) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p = {stdout_fd_, POLLIN, 0};
      char buf[256];
      ssize_t n = 0;
      if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0 ||
          (n = read(stdout_fd_, buf, sizeof(buf))) <= 0) {
        ADD_FAILURE() << "muke-server printed no ready line; got '" << ready_line_ << "'";
        return;
      }
      ready_line_.append(buf, n);
    }
    ready_line_.resize(ready_line_.find('\n'));
    const std::string prefix = "muke-server listening on ";
    if (ready_line_.rfind(prefix, 0) != 0) {
      ADD_FAILURE() << "unexpected ready line '" << ready_line_ << "'";
      return;
    }
    address_ = ready_line_.substr(prefix.size(), ready_line_.find(' ', prefix.size()) - prefix.size());
    const std::string metrics = "metrics http://";
    const size_t at = ready_line_.find(metrics);
    if (at != std::string::npos) {
      const size_t begin = at + metrics.size();
      metrics_address_ = ready_line_.substr(begin, ready_line_.find('/', begin) - begin);
    }
  }

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string ready_line_;
  std::string address_;
  std::string metrics_address_;
};

// Waits until the server's health service reports SERVING.
inline void WaitServing(const std::shared_ptr<grpc::Channel>& channel) {
  auto health = grpc::health::v1::Health::NewStub(channel);
  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    grpc::ClientContext context;
    context.set_wait_for_ready(true);
    context.set_deadline(In(std::chrono::seconds(5)));
    grpc::health::v1::HealthCheckResponse response;
    if (health->Check(&context, grpc::health::v1::HealthCheckRequest(), &response).ok() &&
        response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  FAIL() << "the server never reported SERVING";
}

// Runs the `muke` client binary with `args` (each single-quoted for the shell).
inline CommandResult RunClient(const std::vector<std::string>& args) {
  std::string cmd = std::string("'") + MUKE_CLIENT_PATH + "'";
  for (const auto& a : args) {
    std::string quoted;
    for (char c : a) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    cmd += " '" + quoted + "'";
  }
  return RunCommand(cmd);
}

}  // namespace muke::testing
