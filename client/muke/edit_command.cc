// muke edit --prompt TEXT --target TEXT [--paraphrase TEXT]... [--strategy S] [--update U] [--request-id ID]
//           [--acceptance-threshold X] [--watch]
// muke watch ID
// edit queues an edit and prints it (QUEUED); with --watch, and always for watch, it follows the edit to its
// end: a progress bar on stderr (windows done / total, step and loss, state changes), then the final edit on
// stdout (with --json, one JSON line). Watching exits kExitEditNotCommitted when the edit ends FAILED or
// CANCELLED. Watch streams have no deadline (--timeout applies to the EditKnowledge call only).
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "absl/strings/str_format.h"
#include "client/muke/commands.h"
#include "client/muke/edit_output.h"
#include "client/muke/json_output.h"
#include "core/util/status.h"
#include "muke/v1/knowledge_editor.grpc.pb.h"

namespace muke::client {
namespace {

constexpr int kBarWidth = 30;

absl::StatusOr<muke::v1::EditKnowledgeRequest> RequestFromFlags(const Args& args) {
  if (!args.Has("prompt")) return absl::InvalidArgumentError("--prompt TEXT is required");
  if (!args.Has("target")) return absl::InvalidArgumentError("--target TEXT is required");
  muke::v1::EditKnowledgeRequest request;
  request.set_prompt(args.Get("prompt"));
  request.set_target(args.Get("target"));
  for (const std::string& paraphrase : args.GetAll("paraphrase")) request.add_paraphrases(paraphrase);
  request.set_strategy(args.Get("strategy"));
  request.set_update(args.Get("update"));
  request.set_request_id(args.Get("request-id"));
  if (args.Has("acceptance-threshold")) {
    MUKE_ASSIGN_OR_RETURN(double threshold, args.GetDouble("acceptance-threshold", 0));
    request.set_acceptance_threshold(threshold);
  }
  return request;
}

// The live view on stderr: on a terminal one redrawn line per step and a line per state change; otherwise
// the state changes only.
class Progress {
 public:
  Progress() : tty_(isatty(STDERR_FILENO)) {}

  void Show(const muke::v1::EditEvent& event) {
    if (event.has_step()) {
      if (!tty_) return;
      const muke::v1::EditStep& s = event.step();
      const int done = s.num_windows() > 0 ? s.window() * kBarWidth / s.num_windows() : 0;
      std::fprintf(stderr, "\r\033[K[%s%s] window %d/%d · step %d · loss %.4f",
                   std::string(done, '#').c_str(), std::string(kBarWidth - done, '.').c_str(), s.window() + 1,
                   s.num_windows(), s.step(), s.loss());
      line_open_ = true;
    } else {
      if (line_open_) std::fputs(tty_ ? "\r\033[K" : "\n", stderr);
      line_open_ = false;
      std::fprintf(stderr, "%s %s\n", event.edit().id().c_str(), StateName(event.state()).c_str());
    }
    std::fflush(stderr);
  }

 private:
  const bool tty_;
  bool line_open_ = false;
};

// Follows edit `id` to its end and prints the final edit.
int Watch(const Args& args, const Connection& connection, const std::string& command, const std::string& id) {
  auto stub = muke::v1::KnowledgeEditor::NewStub(connection.channel());
  grpc::ClientContext context;
  muke::v1::WatchEditRequest request;
  request.set_id(id);
  auto reader = stub->WatchEdit(&context, request);
  Progress progress;
  muke::v1::EditEvent event;
  muke::v1::Edit last;
  while (reader->Read(&event)) {
    progress.Show(event);
    if (event.has_edit()) last = event.edit();
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok()) return connection.Fail(command, status);
  if (args.Has("json")) {
    PrintJsonLine(EditJson(last));
  } else {
    PrintEdit(last);
  }
  return EditExitCode(last);
}

}  // namespace

int RunEdit(const Args& args, const Connection& connection) {
  auto request = RequestFromFlags(args);
  if (!request.ok()) {
    std::cerr << "muke edit: " << request.status().message() << "\n";
    return kExitUsage;
  }
  auto stub = muke::v1::KnowledgeEditor::NewStub(connection.channel());
  grpc::ClientContext context;
  connection.Prepare(&context);
  muke::v1::Edit edit;
  const grpc::Status status = stub->EditKnowledge(&context, *request, &edit);
  if (!status.ok()) return connection.Fail("edit", status);
  if (args.Has("watch")) return Watch(args, connection, "edit", edit.id());
  if (args.Has("json")) {
    PrintJsonLine(EditJson(edit));
  } else {
    PrintEdit(edit);
  }
  return kExitOk;
}

int RunWatch(const Args& args, const Connection& connection) {
  return Watch(args, connection, "watch", args.positional().at(0));
}

}  // namespace muke::client
