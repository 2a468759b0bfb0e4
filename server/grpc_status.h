// The one bridge from the absl::Status used inside muke to the grpc::Status returned to clients.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace muke::server {

// Same code (absl::StatusCode and grpc::StatusCode both number the canonical google.rpc.Code values), same
// message.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace muke::server
