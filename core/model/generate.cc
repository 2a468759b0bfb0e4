#include "core/model/generate.h"

#include <algorithm>

#include <torch/types.h>
#include <torch/utils.h>

#include "absl/strings/str_cat.h"
#include "core/util/status.h"

namespace muke {

absl::StatusOr<GenerateResult> Generate(const Model& model, const std::vector<int64_t>& prompt_ids,
                                        const GenerateOptions& options) {
  const int64_t limit = model.config().max_position_embeddings;
  if (prompt_ids.empty()) return absl::InvalidArgumentError("generate: the prompt has no tokens");
  if (options.max_new_tokens < 0) return absl::InvalidArgumentError("generate: max_new_tokens must be >= 0");
  if (static_cast<int64_t>(prompt_ids.size()) + options.max_new_tokens > limit) {
    return absl::InvalidArgumentError(absl::StrCat("generate: prompt (", prompt_ids.size(), " tokens) + max_new_tokens (",
                                                   options.max_new_tokens, ") exceeds max_position_embeddings (",
                                                   limit, ")"));
  }
  torch::NoGradGuard no_grad;
  Sampler sampler(options.sampling);
  KVCache cache(model.num_layers());
  std::vector<int64_t> sequence = prompt_ids;
  GenerateResult result{{}, "length"};
  std::vector<int64_t> feed = prompt_ids;  // tokens not yet seen by the model

  while (static_cast<int64_t>(result.ids.size()) < options.max_new_tokens) {
    ForwardInput in;
    in.tokens = torch::tensor(options.use_cache ? feed : sequence, torch::kInt64).unsqueeze(0);
    in.cache = options.use_cache ? &cache : nullptr;
    in.last_logits_only = true;
    in.weight_overrides = options.weight_overrides;
    MUKE_ASSIGN_OR_RETURN(ForwardOutput out, model.Forward(in));
    const int64_t next = sampler.Next(out.logits[0][-1]);
    result.ids.push_back(next);
    sequence.push_back(next);
    feed = {next};
    if (options.on_token && !options.on_token(next)) {
      result.finish_reason = "cancelled";
      break;
    }
    if (std::count(options.stop_ids.begin(), options.stop_ids.end(), next)) {
      result.finish_reason = "stop";
      break;
    }
  }
  return result;
}

}  // namespace muke
