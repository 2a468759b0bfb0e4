#include "server/metrics_endpoint.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <exception>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "core/util/log.h"

namespace muke::server {
namespace {

constexpr char kPath[] = "/metrics";
constexpr char kExpositionContentType[] = "text/plain; version=0.0.4; charset=utf-8";
// A scrape request is a few hundred bytes; a client has this long to send it and to take the answer.
constexpr size_t kMaxRequestBytes = 16 * 1024;
constexpr timeval kIoTimeout = {5, 0};

std::string ErrnoText(int error) { return std::generic_category().message(error); }

// Writes all of `data`; false when the client has gone (or stalled past kIoTimeout).
bool SendAll(int connection, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = send(connection, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

void Respond(int connection, int status, const char* reason, const char* content_type, const std::string& body,
             bool with_body, const char* extra_headers = "") {
  std::string response = absl::StrCat("HTTP/1.1 ", status, " ", reason, "\r\nContent-Type: ", content_type,
                                      "\r\nContent-Length: ", body.size(), "\r\n", extra_headers,
                                      "Connection: close\r\n\r\n");
  if (with_body) response += body;
  SendAll(connection, response);
}

// The request's head (request line and headers), or "" when the client sent none in time.
std::string ReadRequestHead(int connection) {
  std::string request;
  char buffer[2048];
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < kMaxRequestBytes) {
    const ssize_t n = recv(connection, buffer, sizeof(buffer), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    request.append(buffer, static_cast<size_t>(n));
  }
  const size_t end = request.find("\r\n\r\n");
  return end == std::string::npos ? "" : request.substr(0, end);
}

// A bound, listening socket for HOST:PORT, or why there is none.
absl::StatusOr<int> Listen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 || !absl::SimpleAtoi(listen.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics listen address '", listen, "' is not HOST:PORT with a port in [0, 65535]"));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* addresses = nullptr;
  if (const int error = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &addresses); error != 0) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", listen, ": ", gai_strerror(error)));
  }
  int last_error = 0;
  int fd = -1;
  for (const addrinfo* a = addresses; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) {
      last_error = errno;
      continue;
    }
    const int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));  // rebind at once after a restart (TIME_WAIT)
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, SOMAXCONN) != 0) {
      last_error = errno;
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(addresses);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", listen, ": ", ErrnoText(last_error)));
  return fd;
}

int BoundPort(int fd) {
  sockaddr_storage address{};
  socklen_t size = sizeof(address);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) return 0;
  if (address.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(address).sin_port);
  if (address.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(address).sin6_port);
  return 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(const std::string& listen, Render render) {
  absl::StatusOr<int> fd = Listen(listen);
  if (!fd.ok()) return fd.status();
  int wake_fds[2];
  if (pipe2(wake_fds, O_CLOEXEC) != 0) {
    const int error = errno;
    close(*fd);
    return absl::InternalError(absl::StrCat("metrics endpoint: pipe: ", ErrnoText(error)));
  }
  try {
    return std::unique_ptr<MetricsEndpoint>(new MetricsEndpoint(*fd, BoundPort(*fd), wake_fds, std::move(render)));
  } catch (const std::system_error& e) {  // the thread could not be started
    for (int open_fd : {*fd, wake_fds[0], wake_fds[1]}) close(open_fd);
    return absl::InternalError(absl::StrCat("metrics endpoint: ", e.what()));
  }
}

MetricsEndpoint::MetricsEndpoint(int listen_fd, int port, const int wake_fds[2], Render render)
    : listen_fd_(listen_fd),
      port_(port),
      wake_read_fd_(wake_fds[0]),
      wake_write_fd_(wake_fds[1]),
      render_(std::move(render)),
      thread_([this] { Serve(); }) {}

MetricsEndpoint::~MetricsEndpoint() {
  const char byte = 0;
  while (write(wake_write_fd_, &byte, 1) < 0 && errno == EINTR) {
  }
  thread_.join();
  close(listen_fd_);
  close(wake_read_fd_);
  close(wake_write_fd_);
}

void MetricsEndpoint::Serve() {
  pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_read_fd_, POLLIN, 0}};
  while (true) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      Log(LogLevel::kError, "metrics_endpoint_stopped", {{"error", ErrnoText(errno)}});
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    const int connection = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (connection < 0) {
      // Out of descriptors or memory: wait rather than spin. (A connection the client gave up is skipped.)
      if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN) {
        Log(LogLevel::kWarn, "metrics_accept_failed", {{"error", ErrnoText(errno)}});
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      continue;
    }
    Answer(connection);
    close(connection);
  }
}

void MetricsEndpoint::Answer(int connection) const {
  setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &kIoTimeout, sizeof(kIoTimeout));
  setsockopt(connection, SOL_SOCKET, SO_SNDTIMEO, &kIoTimeout, sizeof(kIoTimeout));
  const std::string head = ReadRequestHead(connection);
  // Request line: METHOD SP TARGET SP HTTP-VERSION.
  const std::vector<absl::string_view> request_line =
      absl::StrSplit(absl::string_view(head).substr(0, head.find("\r\n")), ' ');
  if (request_line.size() != 3 || !absl::StartsWith(request_line[2], "HTTP/")) {
    return Respond(connection, 400, "Bad Request", "text/plain", "malformed HTTP request\n", true);
  }
  const absl::string_view method = request_line[0];
  const absl::string_view path = request_line[1].substr(0, request_line[1].find('?'));
  const bool head_only = method == "HEAD";
  if (method != "GET" && !head_only) {
    return Respond(connection, 405, "Method Not Allowed", "text/plain", "only GET and HEAD are served\n", true,
                   "Allow: GET, HEAD\r\n");
  }
  if (path != kPath) {
    return Respond(connection, 404, "Not Found", "text/plain", absl::StrCat("only ", kPath, " is served\n"),
                   !head_only);
  }
  std::string body;
  try {
    body = render_();
  } catch (const std::exception& e) {
    Log(LogLevel::kError, "metrics_render_failed", {{"error", e.what()}});
    return Respond(connection, 500, "Internal Server Error", "text/plain", absl::StrCat(e.what(), "\n"), !head_only);
  }
  Respond(connection, 200, "OK", kExpositionContentType, body, !head_only);
}

}  // namespace muke::server
