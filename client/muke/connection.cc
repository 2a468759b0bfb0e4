#include "client/muke/connection.h"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "client/muke/commands.h"
#include "core/util/status.h"

namespace muke::client {

namespace {

constexpr double kDefaultTimeoutSeconds = 60;

// `flag`'s value, else the environment variable `env` when it is set and not empty, else "".
std::string FlagOrEnv(const Args& args, const std::string& flag, const char* env) {
  const char* value = std::getenv(env);
  return args.Get(flag, value ? value : "");
}

absl::StatusOr<std::string> ReadFile(const std::string& what, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(what, " ", path, ": cannot read"));
  std::ostringstream content;
  content << in.rdbuf();
  return std::move(content).str();
}

// --token, else the content of --token-file (without trailing whitespace), else $MUKE_TOKEN; "" for none.
absl::StatusOr<std::string> Token(const Args& args) {
  if (args.Has("token") && args.Has("token-file")) {
    return absl::InvalidArgumentError("give --token or --token-file, not both");
  }
  if (args.Has("token-file")) {
    MUKE_ASSIGN_OR_RETURN(std::string content, ReadFile("--token-file", args.Get("token-file")));
    const std::string token(absl::StripTrailingAsciiWhitespace(content));
    if (token.empty()) return absl::InvalidArgumentError("--token-file " + args.Get("token-file") + " is empty");
    return token;
  }
  if (args.Has("token") && args.Get("token").empty()) return absl::InvalidArgumentError("--token must not be empty");
  return FlagOrEnv(args, "token", "MUKE_TOKEN");
}

// TLS trusting the PEM root certificates of --tls-ca (else $MUKE_TLS_CA); plaintext when neither is set.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(const Args& args) {
  const std::string ca_file = FlagOrEnv(args, "tls-ca", "MUKE_TLS_CA");
  if (ca_file.empty()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions options;
  MUKE_ASSIGN_OR_RETURN(options.pem_root_certs, ReadFile("--tls-ca", ca_file));
  return grpc::SslCredentials(options);
}

}  // namespace

const std::set<std::string>& Connection::Flags() {
  static const std::set<std::string> flags = {"server", "timeout", "token", "token-file", "tls-ca"};
  return flags;
}

absl::StatusOr<Connection> Connection::FromFlags(const Args& args) {
  const char* env = std::getenv("MUKE_SERVER");
  const std::string address = args.Get("server", env && *env ? env : kDefaultServer);
  if (address.empty()) return absl::InvalidArgumentError("--server must not be empty");
  MUKE_ASSIGN_OR_RETURN(double timeout, args.GetDouble("timeout", kDefaultTimeoutSeconds));
  if (!(timeout >= 0)) return absl::InvalidArgumentError("--timeout must be >= 0 seconds");
  MUKE_ASSIGN_OR_RETURN(std::string token, Token(args));
  MUKE_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> credentials, ChannelCredentials(args));
  return Connection(address, timeout, std::move(token), std::move(credentials));
}

Connection::Connection(std::string address, double timeout_seconds, std::string token,
                       std::shared_ptr<grpc::ChannelCredentials> credentials)
    : address_(std::move(address)),
      timeout_seconds_(timeout_seconds),
      token_(std::move(token)),
      channel_(grpc::CreateChannel(address_, credentials)) {}

void Connection::Prepare(grpc::ClientContext* context) const {
  if (timeout_seconds_ > 0) {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::duration_cast<std::chrono::system_clock::duration>(
                              std::chrono::duration<double>(timeout_seconds_)));
  }
  // Call metadata rather than call credentials: gRPC sends those only over TLS, and a token-checking server
  // may also sit behind a TLS-terminating proxy on a plaintext port.
  if (!token_.empty()) context->AddMetadata("authorization", "Bearer " + token_);
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
  if (code == grpc::StatusCode::UNAUTHENTICATED) return kExitUnauthenticated;
  return kExitFailure;
}

}  // namespace muke::client
