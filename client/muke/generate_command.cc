// muke generate --prompt TEXT [--chat [--system TEXT]] [--max-new-tokens N] [--temperature T] [--top-p P]
//               [--seed S] [--stream]
// Prints the prompt and its continuation (with --stream, token by token as they arrive), or with --json
// one object (with --stream, one object per token and then the summary). With --chat the prompt is sent as a
// user message (after an optional system message) for the model's chat template, and only the answer printed.
#include <cstdint>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#include <google/protobuf/util/time_util.h>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/strip.h"
#include "client/muke/commands.h"
#include "client/muke/json_output.h"
#include "core/util/status.h"
#include "muke/v1/knowledge_editor.grpc.pb.h"

namespace muke::client {
namespace {

using google::protobuf::RepeatedField;

// Only the options given on the command line are set; the server's defaults apply to the rest.
absl::StatusOr<muke::v1::GenerateRequest> RequestFromFlags(const Args& args) {
  if (!args.Has("prompt")) return absl::InvalidArgumentError("--prompt TEXT is required");
  muke::v1::GenerateRequest request;
  if (args.Has("chat")) {
    if (args.Has("system")) {
      muke::v1::ChatMessage* system = request.add_messages();
      system->set_role("system");
      system->set_content(args.Get("system"));
    }
    muke::v1::ChatMessage* user = request.add_messages();
    user->set_role("user");
    user->set_content(args.Get("prompt"));
  } else {
    if (args.Has("system")) return absl::InvalidArgumentError("--system needs --chat");
    request.set_prompt(args.Get("prompt"));
  }
  if (args.Has("max-new-tokens")) {
    MUKE_ASSIGN_OR_RETURN(int64_t n, args.GetInt("max-new-tokens", 0));
    if (n < 0 || n > std::numeric_limits<int32_t>::max()) {
      return absl::InvalidArgumentError("--max-new-tokens is out of range");
    }
    request.set_max_new_tokens(static_cast<int32_t>(n));
  }
  muke::v1::SamplingParams* sampling = request.mutable_sampling();
  MUKE_ASSIGN_OR_RETURN(double temperature, args.GetDouble("temperature", 0.0));
  sampling->set_temperature(temperature);
  if (args.Has("top-p")) {
    MUKE_ASSIGN_OR_RETURN(double top_p, args.GetDouble("top-p", 1.0));
    sampling->set_top_p(top_p);
  }
  MUKE_ASSIGN_OR_RETURN(int64_t seed, args.GetInt("seed", 0));
  if (seed < 0) return absl::InvalidArgumentError("--seed must be >= 0");
  sampling->set_seed(static_cast<uint64_t>(seed));
  return request;
}

// "FINISH_REASON_LENGTH" -> "length".
std::string FinishReasonName(muke::v1::FinishReason reason) {
  const std::string& name = muke::v1::FinishReason_Name(reason);
  return absl::AsciiStrToLower(absl::StripPrefix(name, "FINISH_REASON_"));
}

std::vector<int64_t> Ids(const RepeatedField<int64_t>& ids) { return {ids.begin(), ids.end()}; }

nlohmann::ordered_json TimingJson(const muke::v1::GenerationTiming& timing) {
  using google::protobuf::util::TimeUtil;
  return {{"prefill_seconds", TimeUtil::DurationToNanoseconds(timing.prefill_duration()) / 1e9},
          {"decode_seconds", TimeUtil::DurationToNanoseconds(timing.decode_duration()) / 1e9}};
}

int Unary(const Args& args, const Connection& connection, const muke::v1::GenerateRequest& request) {
  auto stub = muke::v1::KnowledgeEditor::NewStub(connection.channel());
  grpc::ClientContext context;
  connection.Prepare(&context);
  muke::v1::GenerateResponse response;
  const grpc::Status status = stub->Generate(&context, request, &response);
  if (!status.ok()) return connection.Fail("generate", status);

  if (args.Has("json")) {
    PrintJsonLine({{"prompt_ids", Ids(response.prompt_ids())},
                   {"ids", Ids(response.ids())},
                   {"text", response.text()},
                   {"finish_reason", FinishReasonName(response.finish_reason())},
                   {"timing", TimingJson(response.timing())}});
  } else {
    std::cout << request.prompt() << response.text() << std::endl;
  }
  return kExitOk;
}

int Streamed(const Args& args, const Connection& connection, const muke::v1::GenerateRequest& request) {
  auto stub = muke::v1::KnowledgeEditor::NewStub(connection.channel());
  grpc::ClientContext context;
  connection.Prepare(&context);
  auto reader = stub->GenerateStream(&context, request);
  const bool json = args.Has("json");
  if (!json) std::cout << request.prompt() << std::flush;

  muke::v1::GenerateStreamResponse message;
  while (reader->Read(&message)) {
    if (message.has_token()) {
      const muke::v1::GeneratedToken& token = message.token();
      if (json) {
        PrintJsonLine({{"id", token.id()}, {"text_delta", token.text_delta()}});
      } else {
        std::cout << token.text_delta() << std::flush;
      }
    } else if (message.has_summary()) {
      const muke::v1::GenerateStreamSummary& summary = message.summary();
      if (json) {
        PrintJsonLine({{"finish_reason", FinishReasonName(summary.finish_reason())},
                       {"prompt_ids", Ids(summary.prompt_ids())},
                       {"new_token_count", summary.new_token_count()},
                       {"text_delta", summary.text_delta()},
                       {"timing", TimingJson(summary.timing())}});
      } else {
        std::cout << summary.text_delta() << std::endl;
      }
    }
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok()) {
    if (!json) std::cout << std::endl;
    return connection.Fail("generate", status);
  }
  return kExitOk;
}

}  // namespace

int RunGenerate(const Args& args, const Connection& connection) {
  auto request = RequestFromFlags(args);
  if (!request.ok()) {
    std::cerr << "muke generate: " << request.status().message() << "\n";
    return kExitUsage;
  }
  return args.Has("stream") ? Streamed(args, connection, *request) : Unary(args, connection, *request);
}

}  // namespace muke::client
