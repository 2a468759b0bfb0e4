// muke-tool bench generate --model DIR [--prompt-tokens N] [--new-tokens N] [--repeats N] [--device D]
//                          [--dtype T] [--threads N]
// Prints prefill and batch-1 decode throughput, with and without the KV cache (median of the repeats).
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <random>

#include <torch/cuda.h>
#include <torch/types.h>
#include <torch/utils.h>

#include "client/tool/commands.h"
#include "client/tool/model_flags.h"
#include "client/tool/timing.h"
#include "core/model/generate.h"
#include "core/util/status.h"

namespace muke {
namespace {

absl::Status Bench(const Args& args) {
  MUKE_ASSIGN_OR_RETURN(auto model, LoadModelFromFlags(args));
  MUKE_ASSIGN_OR_RETURN(int64_t prompt_tokens, args.GetInt("prompt-tokens", 128));
  MUKE_ASSIGN_OR_RETURN(int64_t new_tokens, args.GetInt("new-tokens", 64));
  MUKE_ASSIGN_OR_RETURN(int64_t repeats, args.GetInt("repeats", 5));
  const ModelConfig& c = model->config();
  if (prompt_tokens < 1 || new_tokens < 1 || repeats < 1 || prompt_tokens + new_tokens > c.max_position_embeddings) {
    return absl::InvalidArgumentError("need prompt-tokens >= 1, new-tokens >= 1, repeats >= 1 and their sum within "
                                      "max_position_embeddings");
  }
  std::mt19937_64 rng(0);
  std::vector<int64_t> prompt(prompt_tokens);
  for (auto& id : prompt) id = static_cast<int64_t>(rng() % c.vocab_size);

  torch::NoGradGuard no_grad;
  MUKE_ASSIGN_OR_RETURN(double prefill, MedianSeconds(repeats, [&]() -> absl::Status {
    ForwardInput in;
    in.tokens = torch::tensor(prompt, torch::kInt64).unsqueeze(0);
    in.last_logits_only = true;
    absl::Status status = model->Forward(in).status();
    if (torch::cuda::is_available()) torch::cuda::synchronize();
    return status;
  }));
  auto decode = [&](bool use_cache) {
    return MedianSeconds(repeats, [&]() -> absl::Status {
      GenerateOptions options;  // sampling copies logits to the host each step, which synchronises CUDA
      options.max_new_tokens = new_tokens;
      options.use_cache = use_cache;
      return Generate(*model, prompt, options).status();
    });
  };
  // Decode time = generation time minus the prefill it starts with.
  MUKE_ASSIGN_OR_RETURN(double cached, decode(true));
  MUKE_ASSIGN_OR_RETURN(double uncached, decode(false));
  cached = std::max(cached - prefill, 1e-9);
  uncached = std::max(uncached - prefill, 1e-9);

  std::printf("model %s (%s, %lld layers, hidden %lld, vocab %lld) device=%s dtype=%s threads=%d repeats=%lld\n",
              args.Get("model").c_str(), c.model_type.c_str(), (long long)c.num_hidden_layers,
              (long long)c.hidden_size, (long long)c.vocab_size, model->device().str().c_str(),
              DtypeName(model->dtype()).c_str(), torch::get_num_threads(), (long long)repeats);
  std::printf("| %-38s | %7s | %10s | %12s |\n", "phase", "tokens", "seconds", "tokens/s");
  std::printf("|%s|%s|%s|%s|\n", std::string(40, '-').c_str(), std::string(9, '-').c_str(),
              std::string(12, '-').c_str(), std::string(14, '-').c_str());
  auto row = [](const char* name, int64_t tokens, double secs) {
    std::printf("| %-38s | %7lld | %10.4f | %12.1f |\n", name, (long long)tokens, secs, tokens / secs);
  };
  row("prefill (batch 1)", prompt_tokens, prefill);
  row("decode, batch 1, KV cache", new_tokens, cached);
  row("decode, batch 1, no cache (recompute)", new_tokens, uncached);
  std::printf("KV cache speed-up on decode: %.1fx\n", uncached / cached);
  return absl::OkStatus();
}

}  // namespace

int RunBenchGenerate(int argc, char** argv, int first) {
  std::set<std::string> value_flags = kModelFlags;
  value_flags.insert({"prompt-tokens", "new-tokens", "repeats"});
  auto args = Args::Parse(argc, argv, first, value_flags, {});
  absl::Status status = args.ok() ? Bench(*args) : args.status();
  if (!status.ok()) {
    std::cerr << "bench generate: " << status.message() << "\n";
    return args.ok() ? kExitFailure : kExitUsage;
  }
  return 0;
}

}  // namespace muke
