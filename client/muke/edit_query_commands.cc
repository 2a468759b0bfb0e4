// muke get ID · muke list [--page-size N] [--page-token T] · muke cancel ID: read and cancel edits. Human
// output by default, one JSON line with --json.
#include <iostream>
#include <limits>
#include <string>

#include "absl/strings/str_format.h"
#include "client/muke/commands.h"
#include "client/muke/edit_output.h"
#include "client/muke/json_output.h"
#include "core/util/status.h"
#include "muke/v1/knowledge_editor.grpc.pb.h"

namespace muke::client {
namespace {

void Print(const Args& args, const muke::v1::Edit& edit) {
  if (args.Has("json")) {
    PrintJsonLine(EditJson(edit));
  } else {
    PrintEdit(edit);
  }
}

}  // namespace

namespace {

// Calls a unary RPC that takes an edit id and returns the Edit (`call(stub, context, request, edit)`), prints it.
template <typename Request, typename Call>
int CallWithId(const Args& args, const Connection& connection, const char* command, Call call) {
  auto stub = muke::v1::KnowledgeEditor::NewStub(connection.channel());
  grpc::ClientContext context;
  connection.Prepare(&context);
  Request request;
  request.set_id(args.positional().at(0));
  muke::v1::Edit edit;
  const grpc::Status status = call(*stub, &context, request, &edit);
  if (!status.ok()) return connection.Fail(command, status);
  Print(args, edit);
  return kExitOk;
}

}  // namespace

int RunGet(const Args& args, const Connection& connection) {
  return CallWithId<muke::v1::GetEditRequest>(args, connection, "get", [](auto& stub, auto* context, auto& r, auto* e) {
    return stub.GetEdit(context, r, e);
  });
}

int RunCancel(const Args& args, const Connection& connection) {
  return CallWithId<muke::v1::CancelEditRequest>(args, connection, "cancel",
                                                 [](auto& stub, auto* context, auto& r, auto* e) {
                                                   return stub.CancelEdit(context, r, e);
                                                 });
}

int RunRollback(const Args& args, const Connection& connection) {
  return CallWithId<muke::v1::RollbackEditRequest>(args, connection, "rollback",
                                                   [](auto& stub, auto* context, auto& r, auto* e) {
                                                     return stub.RollbackEdit(context, r, e);
                                                   });
}

int RunList(const Args& args, const Connection& connection) {
  muke::v1::ListEditsRequest request;
  const absl::StatusOr<int64_t> page_size = args.GetInt("page-size", 0);
  if (!page_size.ok() || *page_size < 0 || *page_size > std::numeric_limits<int32_t>::max()) {
    std::cerr << "muke list: --page-size must be an integer >= 0\n";
    return kExitUsage;
  }
  request.set_page_size(static_cast<int32_t>(*page_size));
  request.set_page_token(args.Get("page-token"));
  auto stub = muke::v1::KnowledgeEditor::NewStub(connection.channel());
  grpc::ClientContext context;
  connection.Prepare(&context);
  muke::v1::ListEditsResponse response;
  const grpc::Status status = stub->ListEdits(&context, request, &response);
  if (!status.ok()) return connection.Fail("list", status);

  if (args.Has("json")) {
    nlohmann::ordered_json edits = nlohmann::ordered_json::array();
    for (const muke::v1::Edit& edit : response.edits()) edits.push_back(EditJson(edit));
    PrintJsonLine({{"edits", edits}, {"next_page_token", response.next_page_token()}});
    return kExitOk;
  }
  for (const muke::v1::Edit& edit : response.edits()) {
    std::cout << absl::StrFormat("%s  %-10s  %s\n", edit.id(), StateName(edit.state()), edit.request().prompt());
  }
  if (!response.next_page_token().empty()) std::cout << "next page: --page-token " << response.next_page_token() << "\n";
  return kExitOk;
}

}  // namespace muke::client
