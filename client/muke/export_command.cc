// muke export [--path PATH] [--overwrite] [--max-shard-bytes N]: ExportCheckpoint, printing where the checkpoint was
// written (a path on the server), its files and the edits it contains; --json prints one JSON object.
#include <iostream>
#include <string>
#include <vector>

#include <google/protobuf/util/time_util.h>
#include <nlohmann/json.hpp>

#include "client/muke/commands.h"
#include "client/muke/json_output.h"
#include "muke/v1/knowledge_editor.grpc.pb.h"

namespace muke::client {

int RunExport(const Args& args, const Connection& connection) {
  muke::v1::ExportCheckpointRequest request;
  request.set_path(args.Get("path"));
  request.set_overwrite(args.Has("overwrite"));
  if (args.Has("max-shard-bytes")) {
    absl::StatusOr<int64_t> bytes = args.GetInt("max-shard-bytes", 0);
    if (!bytes.ok()) {
      std::cerr << "muke export: " << bytes.status().message() << "\n";
      return kExitUsage;
    }
    request.set_max_shard_bytes(*bytes);
  }

  auto stub = muke::v1::KnowledgeEditor::NewStub(connection.channel());
  grpc::ClientContext context;
  connection.Prepare(&context);
  muke::v1::ExportCheckpointResponse response;
  const grpc::Status status = stub->ExportCheckpoint(&context, request, &response);
  if (!status.ok()) return connection.Fail("export", status);

  const std::vector<std::string> files(response.files().begin(), response.files().end());
  const std::vector<std::string> edits(response.edit_ids().begin(), response.edit_ids().end());
  const double seconds = google::protobuf::util::TimeUtil::DurationToMilliseconds(response.duration()) / 1000.0;
  if (args.Has("json")) {
    PrintJsonLine({{"path", response.path()}, {"files", files}, {"bytes", response.bytes()}, {"edit_ids", edits},
                   {"seconds", seconds}});
    return kExitOk;
  }
  std::cout << "exported " << edits.size() << " committed edit(s) to " << response.path() << " ("
            << response.bytes() << " bytes, " << seconds << " s)\n";
  for (const std::string& file : files) std::cout << "  " << file << "\n";
  return kExitOk;
}

}  // namespace muke::client
