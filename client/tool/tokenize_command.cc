// muke-tool tokenize --model DIR [--chat] [--no-special] [--json] [--] TEXT
// Prints the ids and pieces of TEXT (DIR may hold only tokenizer files). --chat wraps TEXT as one user message
// in the model's chat template with the generation prompt, and encodes the result as transformers'
// apply_chat_template does (the template writes the special tokens itself).
#include <iostream>

#include <nlohmann/json.hpp>

#include "absl/strings/str_join.h"
#include "client/tool/args.h"
#include "client/tool/commands.h"
#include "core/tokenizer/chat_format.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/status.h"

namespace muke {
namespace {

absl::Status Tokenize(const Args& args) {
  if (!args.Has("model")) return absl::InvalidArgumentError("--model DIR is required");
  if (args.positional().size() != 1) return absl::InvalidArgumentError("give exactly one TEXT (after -- if it starts with -)");
  MUKE_ASSIGN_OR_RETURN(auto tokenizer, LoadTokenizer(args.Get("model")));
  std::string text = args.positional()[0];
  bool add_special = !args.Has("no-special");
  if (args.Has("chat")) {
    MUKE_ASSIGN_OR_RETURN(ChatFormat chat, ChatFormat::Load(args.Get("model")));
    MUKE_ASSIGN_OR_RETURN(text, chat.Render({{"user", text}}, /*add_generation_prompt=*/true));
    add_special = false;
  }
  MUKE_ASSIGN_OR_RETURN(std::vector<int64_t> ids, tokenizer->Encode(text, add_special));
  std::vector<std::string> pieces;
  for (int64_t id : ids) {
    MUKE_ASSIGN_OR_RETURN(std::string piece, tokenizer->IdToPiece(id));
    pieces.push_back(std::move(piece));
  }
  MUKE_ASSIGN_OR_RETURN(std::string decoded, tokenizer->Decode(ids, /*skip_special_tokens=*/false));
  if (args.Has("json")) {
    nlohmann::json j = {{"ids", ids}, {"pieces", pieces}, {"decoded", decoded}};
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return absl::OkStatus();
  }
  std::cout << "ids:    " << absl::StrJoin(ids, " ") << "\n";
  std::cout << "pieces: " << nlohmann::json(pieces).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
            << "\n";
  std::cout << ids.size() << " tokens\n";
  return absl::OkStatus();
}

}  // namespace

int RunTokenize(int argc, char** argv, int first) {
  auto args = Args::Parse(argc, argv, first, {"model"}, {"chat", "no-special", "json"});
  absl::Status status = args.ok() ? Tokenize(*args) : args.status();
  if (!status.ok()) {
    std::cerr << "tokenize: " << status.message() << "\n";
    return !args.ok() || absl::IsInvalidArgument(status) ? kExitUsage : kExitFailure;
  }
  return 0;
}

}  // namespace muke
