// muke-tool generate --model DIR --prompt TEXT [--max-new-tokens N] [--temperature T] [--top-p P] [--seed S]
//                    [--json] [--device D] [--dtype T] [--threads N]
#include <iostream>

#include <nlohmann/json.hpp>

#include "client/tool/commands.h"
#include "client/tool/model_flags.h"
#include "core/model/generate.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/status.h"

namespace muke {
namespace {

absl::Status Generate(const Args& args) {
  if (!args.Has("prompt")) return absl::InvalidArgumentError("--prompt TEXT is required");
  MUKE_ASSIGN_OR_RETURN(auto model, LoadModelFromFlags(args));
  MUKE_ASSIGN_OR_RETURN(auto tokenizer, LoadTokenizer(args.Get("model")));
  MUKE_ASSIGN_OR_RETURN(std::vector<int64_t> prompt_ids, tokenizer->Encode(args.Get("prompt"), true));

  GenerateOptions options;
  MUKE_ASSIGN_OR_RETURN(options.max_new_tokens, args.GetInt("max-new-tokens", 64));
  MUKE_ASSIGN_OR_RETURN(options.sampling.temperature, args.GetDouble("temperature", 0.0));
  MUKE_ASSIGN_OR_RETURN(options.sampling.top_p, args.GetDouble("top-p", 1.0));
  MUKE_ASSIGN_OR_RETURN(int64_t seed, args.GetInt("seed", 0));
  options.sampling.seed = static_cast<uint64_t>(seed);
  if (options.sampling.temperature < 0) return absl::InvalidArgumentError("--temperature must be >= 0");
  if (!(options.sampling.top_p > 0 && options.sampling.top_p <= 1)) {
    return absl::InvalidArgumentError("--top-p must be in (0, 1]");
  }
  options.stop_ids = tokenizer->eos_ids();
  MUKE_ASSIGN_OR_RETURN(GenerateResult result, muke::Generate(*model, prompt_ids, options));
  MUKE_ASSIGN_OR_RETURN(std::string text, DecodeContinuation(*tokenizer, prompt_ids, result.ids));

  if (args.Has("json")) {
    nlohmann::json j = {{"prompt_ids", prompt_ids}, {"ids", result.ids}, {"text", text},
                        {"finish_reason", result.finish_reason}};
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::cout << args.Get("prompt") << text << "\n";
  }
  return absl::OkStatus();
}

}  // namespace

int RunGenerate(int argc, char** argv, int first) {
  std::set<std::string> value_flags = kModelFlags;
  value_flags.insert({"prompt", "max-new-tokens", "temperature", "top-p", "seed"});
  auto args = Args::Parse(argc, argv, first, value_flags, {"json"});
  absl::Status status = args.ok() ? Generate(*args) : args.status();
  if (!status.ok()) {
    std::cerr << "generate: " << status.message() << "\n";
    return absl::IsInvalidArgument(status) && !args.ok() ? kExitUsage : kExitFailure;
  }
  return 0;
}

}  // namespace muke
