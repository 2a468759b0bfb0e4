#include "client/muke/connection.h"

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <utility>

#include "absl/status/status.h"
#include "client/muke/commands.h"
#include "core/util/status.h"

namespace muke::client {

namespace {

constexpr double kDefaultTimeoutSeconds = 60;

}  // namespace

absl::StatusOr<Connection> Connection::FromFlags(const Args& args) {
  const char* env = std::getenv("MUKE_SERVER");
  const std::string address = args.Get("server", env && *env ? env : kDefaultServer);
  if (address.empty()) return absl::InvalidArgumentError("--server must not be empty");
  MUKE_ASSIGN_OR_RETURN(double timeout, args.GetDouble("timeout", kDefaultTimeoutSeconds));
  if (!(timeout >= 0)) return absl::InvalidArgumentError("--timeout must be >= 0 seconds");
  return Connection(address, timeout);
}

Connection::Connection(std::string address, double timeout_seconds)
    : address_(std::move(address)),
      timeout_seconds_(timeout_seconds),
      channel_(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials())) {}

void Connection::Prepare(grpc::ClientContext* context) const {
  if (timeout_seconds_ > 0) {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::duration_cast<std::chrono::system_clock::duration>(
                              std::chrono::duration<double>(timeout_seconds_)));
  }
}

int Connection::Fail(const std::string& command, const grpc::Status& status) const {
  const grpc::StatusCode code = status.error_code();
  const bool unreachable = code == grpc::StatusCode::UNAVAILABLE ||
                           (code == grpc::StatusCode::DEADLINE_EXCEEDED &&
                            channel_->GetState(/*try_to_connect=*/false) != GRPC_CHANNEL_READY);
  std::cerr << "muke " << command << ": ";
  if (unreachable) std::cerr << "server " << address_ << " unreachable: ";
  std::cerr << absl::StatusCodeToString(static_cast<absl::StatusCode>(code)) << ": " << status.error_message()
            << "\n";
  if (unreachable) return kExitUnreachable;
  if (code == grpc::StatusCode::INVALID_ARGUMENT || code == grpc::StatusCode::FAILED_PRECONDITION ||
      code == grpc::StatusCode::NOT_FOUND) {
    return kExitRejected;
  }
  if (code == grpc::StatusCode::RESOURCE_EXHAUSTED) return kExitBusy;
  return kExitFailure;
}

}  // namespace muke::client
