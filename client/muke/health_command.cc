// muke health: the grpc.health.v1 status of the whole server (the empty service name).
#include <iostream>

#include <nlohmann/json.hpp>

#include "client/muke/commands.h"
#include "client/muke/json_output.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace muke::client {

int RunHealth(const Args& args, const Connection& connection) {
  using grpc::health::v1::HealthCheckResponse;
  auto stub = grpc::health::v1::Health::NewStub(connection.channel());
  grpc::ClientContext context;
  connection.Prepare(&context);
  HealthCheckResponse response;
  const grpc::Status status = stub->Check(&context, grpc::health::v1::HealthCheckRequest(), &response);
  if (!status.ok()) return connection.Fail("health", status);

  const std::string name = HealthCheckResponse::ServingStatus_Name(response.status());
  if (args.Has("json")) {
    PrintJsonLine({{"status", name}});
  } else {
    std::cout << name << "\n";
  }
  return response.status() == HealthCheckResponse::SERVING ? kExitOk : kExitUnreachable;
}

}  // namespace muke::client
