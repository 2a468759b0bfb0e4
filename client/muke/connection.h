// How a muke command reaches the server: the address (--server, else $MUKE_SERVER, else 127.0.0.1:50051), the
// channel (TLS trusting --tls-ca FILE, else $MUKE_TLS_CA, when one is given; plaintext otherwise), the bearer
// token sent with every call (--token, --token-file, else $MUKE_TOKEN), the per-call deadline (--timeout
// SECONDS, default 60, 0 = none), and turning a failed call into a message and an exit code.
#pragma once

#include <memory>
#include <set>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "client/tool/args.h"

namespace muke::client {

inline constexpr char kDefaultServer[] = "127.0.0.1:50051";

class Connection {
 public:
  // The global flags Connection reads, each taking a value.
  static const std::set<std::string>& Flags();

  // Reads the flags of Flags() and their environment variables; an INVALID_ARGUMENT error is a usage error,
  // any other a file (token or CA) that cannot be read.
  static absl::StatusOr<Connection> FromFlags(const Args& args);

  const std::string& address() const { return address_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

  // Sets the call deadline and the `authorization: Bearer <token>` metadata (when there is a token) on a fresh
  // context.
  void Prepare(grpc::ClientContext* context) const;

  // Prints `muke <command>: <why>` to stderr and returns the exit code for `status` (see commands.h):
  // unreachable for UNAVAILABLE, or DEADLINE_EXCEEDED before the channel ever connected; rejected for
  // INVALID_ARGUMENT, FAILED_PRECONDITION and NOT_FOUND; busy for RESOURCE_EXHAUSTED; unauthenticated for
  // UNAUTHENTICATED; failure otherwise.
  int Fail(const std::string& command, const grpc::Status& status) const;

 private:
  Connection(std::string address, double timeout_seconds, std::string token,
             std::shared_ptr<grpc::ChannelCredentials> credentials);

  std::string address_;
  double timeout_seconds_;
  std::string token_;  // empty: none sent
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace muke::client
