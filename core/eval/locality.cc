#include "core/eval/locality.h"

#include "absl/strings/str_cat.h"
#include "core/model/generate.h"
#include "core/util/status.h"

namespace muke {
namespace {

struct Probe {
  std::vector<int64_t> continuation;
  torch::Tensor log_probs;  // along prompt + `teacher` (the continuation to score), [len - 1, vocab]
};

// Greedy continuation of `prompt`, and log-probabilities along prompt + `teacher` (or + the continuation itself).
absl::StatusOr<Probe> RunProbe(const Model& model, const std::vector<int64_t>& prompt, int64_t new_tokens,
                               const std::vector<int64_t>* teacher, const TensorMap* overrides) {
  GenerateOptions g;
  g.max_new_tokens = new_tokens;
  g.weight_overrides = overrides;  // greedy by default; no stop ids so every probe has the same length
  MUKE_ASSIGN_OR_RETURN(GenerateResult generated, Generate(model, prompt, g));
  Probe probe{generated.ids, {}};
  std::vector<int64_t> sequence = prompt;
  const std::vector<int64_t>& tail = teacher ? *teacher : probe.continuation;
  sequence.insert(sequence.end(), tail.begin(), tail.end());
  sequence.pop_back();
  torch::NoGradGuard no_grad;
  ForwardInput in;
  in.tokens = torch::tensor(sequence, torch::kInt64).unsqueeze(0);
  in.weight_overrides = overrides;
  MUKE_ASSIGN_OR_RETURN(ForwardOutput out, model.Forward(in));
  probe.log_probs = torch::log_softmax(out.logits[0].to(torch::kFloat32), -1).to(torch::kCPU);
  return probe;
}

}  // namespace

absl::StatusOr<LocalityBaseline> RecordLocality(const Model& model, const std::vector<std::vector<int64_t>>& prompts,
                                                int64_t new_tokens) {
  if (prompts.empty() || new_tokens < 1) {
    return absl::InvalidArgumentError("locality: need at least one prompt and new_tokens >= 1");
  }
  return CatchExceptions("locality", [&]() -> absl::StatusOr<LocalityBaseline> {
    LocalityBaseline baseline;
    for (const auto& prompt : prompts) {
      if (prompt.empty()) return absl::InvalidArgumentError("locality: empty probe prompt");
      MUKE_ASSIGN_OR_RETURN(Probe probe, RunProbe(model, prompt, new_tokens, nullptr, nullptr));
      baseline.prompts.push_back(prompt);
      baseline.continuations.push_back(std::move(probe.continuation));
      baseline.log_probs.push_back(std::move(probe.log_probs));
    }
    return baseline;
  });
}

absl::StatusOr<LocalityScore> MeasureLocality(const Model& model, const LocalityBaseline& baseline,
                                              const TensorMap* weight_overrides) {
  return CatchExceptions("locality", [&]() -> absl::StatusOr<LocalityScore> {
    int64_t same = 0, agree = 0, tokens = 0, positions = 0;
    double kl = 0;
    for (size_t i = 0; i < baseline.prompts.size(); ++i) {
      const auto& before = baseline.continuations[i];
      MUKE_ASSIGN_OR_RETURN(Probe after, RunProbe(model, baseline.prompts[i], before.size(), &before,
                                                  weight_overrides));
      for (size_t t = 0; t < before.size(); ++t) same += t < after.continuation.size() && after.continuation[t] == before[t];
      tokens += before.size();
      const torch::Tensor& p = baseline.log_probs[i];
      kl += (p.exp() * (p - after.log_probs)).sum().item<double>();
      positions += p.size(0);
      const int64_t first = baseline.prompts[i].size() - 1;  // the row predicting the first continuation token
      agree += (p.slice(0, first).argmax(-1) == after.log_probs.slice(0, first).argmax(-1)).sum().item<int64_t>();
    }
    LocalityScore score;
    score.unchanged = tokens ? static_cast<double>(same) / tokens : 1.0;
    score.mean_kl = positions ? kl / positions : 0.0;
    score.top1_agreement = tokens ? static_cast<double>(agree) / tokens : 1.0;
    if (!std::isfinite(score.mean_kl)) return absl::InternalError("locality: non-finite KL");
    return score;
  });
}

}  // namespace muke
