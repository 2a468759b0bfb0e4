// The HTTP endpoint Prometheus scrapes: one thread answers GET (and HEAD) /metrics with the text a callback
// renders, one connection at a time. It stands in for prometheus-cpp's civetweb Exposer, whose threads cannot
// start in a process that loads libtorch: Debian builds civetweb with a fixed 100 KiB thread stack, smaller than
// the static TLS of libtorch and its dependencies, so pthread_create fails (EINVAL).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace muke::server {

class MetricsEndpoint {
 public:
  // The response body, in the Prometheus text exposition format; called on the endpoint's thread, once per
  // scrape. An exception it throws is answered 500.
  using Render = std::function<std::string()>;

  // Listens on `listen`: HOST:PORT with HOST an IPv4 address, a bracketed IPv6 address ([::1]) or a name, and
  // port 0 for any free port. INVALID_ARGUMENT for another form, UNAVAILABLE naming the address and the
  // system's reason when it cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(const std::string& listen, Render render);
  // Stops listening, after the request being answered (if any).
  ~MetricsEndpoint();

  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  // The port bound (the one chosen when `listen` asked for port 0).
  int port() const { return port_; }

 private:
  MetricsEndpoint(int listen_fd, int port, const int wake_fds[2], Render render);
  void Serve();
  void Answer(int connection) const;

  const int listen_fd_;
  const int port_;
  const int wake_read_fd_;   // readable once the destructor asks Serve to return
  const int wake_write_fd_;
  const Render render_;
  std::thread thread_;
};

}  // namespace muke::server
