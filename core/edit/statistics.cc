#include "core/edit/statistics.h"

#include <filesystem>

#include <torch/utils.h>

#include "absl/strings/str_cat.h"
#include "core/model/fingerprint.h"
#include "core/model/safetensors.h"
#include "core/model/sampler.h"
#include "core/util/log.h"
#include "core/util/status.h"

namespace muke {
namespace {

// Identifies the corpus (or the self-sampling recipe) in cache file names.
std::string CorpusId(const StatisticsOptions& o) {
  uint64_t h = 0xcbf29ce484222325ull;
  auto add = [&h](const std::string& s) {
    for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
    h = (h ^ 0xff) * 0x100000001b3ull;
  };
  add(o.corpus.empty() ? absl::StrCat("self:", o.num_samples, ":", o.sample_tokens, ":", o.seed)
                       : absl::StrCat("corpus:", o.sample_tokens));
  for (const std::string& text : o.corpus) add(text);
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

}  // namespace

absl::StatusOr<std::vector<std::vector<int64_t>>> PreservationSequences(const Model& model, const Tokenizer& tokenizer,
                                                                        const StatisticsOptions& o) {
  if (o.num_samples < 1 || o.batch_size < 1 || o.sample_tokens < 2) {
    return absl::InvalidArgumentError("preservation sequences: need num_samples >= 1, batch_size >= 1, sample_tokens >= 2");
  }
  torch::NoGradGuard no_grad;
  std::vector<std::vector<int64_t>> out;
  if (!o.corpus.empty()) {
    for (const std::string& text : o.corpus) {
      MUKE_ASSIGN_OR_RETURN(std::vector<int64_t> ids, tokenizer.Encode(text, true));
      if (static_cast<int64_t>(ids.size()) > o.sample_tokens) ids.resize(o.sample_tokens);
      if (!ids.empty()) out.push_back(std::move(ids));
    }
    return out;
  }
  const int64_t bos = tokenizer.bos_id().value_or(model.config().bos_token_id.value_or(0));
  const std::vector<int64_t>& eos = tokenizer.eos_ids();
  for (int64_t start = 0; start < o.num_samples; start += o.batch_size) {
    const int64_t B = std::min(o.batch_size, o.num_samples - start);
    std::vector<Sampler> samplers;
    for (int64_t b = 0; b < B; ++b) samplers.emplace_back(SamplingOptions{1.0, 1.0, o.seed * 1000003 + start + b});
    std::vector<std::vector<int64_t>> rows(B, std::vector<int64_t>{bos});
    std::vector<bool> done(B, false);
    KVCache cache(model.num_layers());
    torch::Tensor feed = torch::full({B, 1}, bos, torch::kInt64);
    for (int64_t t = 1; t < o.sample_tokens; ++t) {
      ForwardInput in;
      in.tokens = feed;
      in.cache = &cache;
      in.last_logits_only = true;
      MUKE_ASSIGN_OR_RETURN(ForwardOutput fwd, model.Forward(in));
      torch::Tensor logits = fwd.logits.select(1, 0).to(torch::kCPU);
      std::vector<int64_t> next(B);
      for (int64_t b = 0; b < B; ++b) {
        next[b] = samplers[b].Next(logits[b]);
        if (!done[b]) rows[b].push_back(next[b]);
        done[b] = done[b] || std::count(eos.begin(), eos.end(), next[b]) > 0;
      }
      feed = torch::tensor(next, torch::kInt64).unsqueeze(1);
    }
    for (auto& row : rows) out.push_back(std::move(row));
  }
  return out;
}

namespace {

std::string CachePath(const StatisticsOptions& o, const std::string& fingerprint, int layer) {
  return absl::StrCat(o.cache_dir, "/mom2-", fingerprint, "-layer", layer, "-", CorpusId(o), ".safetensors");
}

std::string NullSpacePath(const StatisticsOptions& o, const std::string& fingerprint, int layer) {
  return absl::StrCat(o.cache_dir, "/nullspace-", fingerprint, "-layer", layer, "-", CorpusId(o), "-t",
                      o.null_space_threshold, ".safetensors");
}

// Loads or computes (and caches) P for every layer of `moments`.
absl::Status AddNullSpaces(const Model& model, const StatisticsOptions& o, const std::string& fingerprint,
                           SecondMoments& moments) {
  for (const auto& [l, c] : moments.by_layer) {
    const std::string path = o.cache_dir.empty() ? "" : NullSpacePath(o, fingerprint, l);
    if (!path.empty() && std::filesystem::exists(path)) {
      MUKE_ASSIGN_OR_RETURN(TensorMap tensors, ReadSafetensors(path, {model.device(), torch::kFloat32}));
      if (!tensors.count("null_space")) return absl::DataLossError(absl::StrCat(path, ": not a projection file"));
      moments.null_space[l] = tensors.at("null_space");
      continue;
    }
    MUKE_ASSIGN_OR_RETURN(moments.null_space[l], NullSpaceProjection(c, o.null_space_threshold));
    if (!path.empty()) {
      MUKE_RETURN_IF_ERROR(WriteSafetensors(path, {{"null_space", moments.null_space[l]}},
                                            {{"threshold", absl::StrCat(o.null_space_threshold)},
                                             {"model_fingerprint", fingerprint},
                                             {"layer", std::to_string(l)}}));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<SecondMoments> LoadOrComputeSecondMoments(const Model& model, const Tokenizer& tokenizer,
                                                         const std::vector<int>& layers, const StatisticsOptions& o,
                                                         const std::string& fingerprint) {
  for (int l : layers) {
    if (l < 0 || l >= model.num_layers()) {
      return absl::InvalidArgumentError(absl::StrCat("statistics: layer ", l, " outside [0, ", model.num_layers(), ")"));
    }
  }
  if (o.num_samples < 1 || o.batch_size < 1 || o.sample_tokens < 2 ||
      o.sample_tokens > model.config().max_position_embeddings) {
    return absl::InvalidArgumentError(absl::StrCat("statistics: need num_samples >= 1, batch_size >= 1 and ",
                                                   "sample_tokens in [2, ", model.config().max_position_embeddings,
                                                   "]"));
  }
  // All layers cached: load them.
  if (!o.cache_dir.empty()) {
    SecondMoments cached{{}, {}, 0, true};
    for (int l : layers) {
      const std::string path = CachePath(o, fingerprint, l);
      if (!std::filesystem::exists(path)) break;
      MUKE_ASSIGN_OR_RETURN(SafetensorsHeader header, ReadSafetensorsHeader(path));
      TensorLoadOptions load{model.device(), torch::kFloat32};
      MUKE_ASSIGN_OR_RETURN(TensorMap tensors, ReadSafetensors(path, load));
      if (!tensors.count("second_moment") || !header.metadata.count("num_keys")) {
        return absl::DataLossError(absl::StrCat(path, ": not a statistics file"));
      }
      cached.by_layer[l] = tensors.at("second_moment");
      cached.num_keys = std::stoll(header.metadata.at("num_keys"));
    }
    if (cached.by_layer.size() == layers.size()) {
      Log(LogLevel::kInfo, "statistics_cache_hit", {{"fingerprint", fingerprint}, {"layers", std::to_string(layers.size())}});
      return cached;
    }
  }

  torch::NoGradGuard no_grad;
  MUKE_ASSIGN_OR_RETURN(auto sequences, PreservationSequences(model, tokenizer, o));
  const int64_t I = model.config().intermediate_size;
  SecondMoments result;
  std::map<int, torch::Tensor> sums;
  for (int l : layers) sums[l] = torch::zeros({I, I}, torch::dtype(torch::kFloat64).device(model.device()));
  CaptureSpec spec;
  spec.layers = layers;
  spec.mlp_key = true;
  for (size_t i = 0; i < sequences.size(); ++i) {
    ForwardInput in;
    in.tokens = torch::tensor(sequences[i], torch::kInt64).unsqueeze(0);
    in.capture = &spec;
    in.compute_logits = false;
    MUKE_ASSIGN_OR_RETURN(ForwardOutput out, model.Forward(in));
    for (int l : layers) {
      torch::Tensor k = out.captured.mlp_key.at(l)[0].to(torch::kFloat64);  // [S, I]
      sums[l] += torch::matmul(k.t(), k);
    }
    result.num_keys += static_cast<int64_t>(sequences[i].size());
    if (o.progress) o.progress(static_cast<int64_t>(i) + 1, static_cast<int64_t>(sequences.size()));
  }
  if (result.num_keys == 0) return absl::InvalidArgumentError("statistics: the corpus produced no tokens");
  for (int l : layers) {
    result.by_layer[l] = (sums[l] / static_cast<double>(result.num_keys)).to(torch::kFloat32);
    if (!result.by_layer[l].isfinite().all().item<bool>()) {
      return absl::InternalError(absl::StrCat("statistics: layer ", l, " has non-finite values"));
    }
  }
  if (!o.cache_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(o.cache_dir, ec);
    if (ec) return absl::InternalError(absl::StrCat(o.cache_dir, ": ", ec.message()));
    for (int l : layers) {
      MUKE_RETURN_IF_ERROR(WriteSafetensors(
          CachePath(o, fingerprint, l), {{"second_moment", result.by_layer[l]}},
          {{"num_keys", std::to_string(result.num_keys)},
           {"corpus", o.corpus.empty() ? "self-sampled" : absl::StrCat(o.corpus.size(), " texts")},
           {"model_fingerprint", fingerprint},
           {"layer", std::to_string(l)}}));
    }
  }
  return result;
}

}  // namespace

absl::StatusOr<torch::Tensor> NullSpaceProjection(const torch::Tensor& second_moment, double threshold) {
  if (second_moment.dim() != 2 || second_moment.size(0) != second_moment.size(1)) {
    return absl::InvalidArgumentError("null space: the second moment must be a square matrix");
  }
  return CatchExceptions("null space", [&]() -> absl::StatusOr<torch::Tensor> {
    torch::NoGradGuard no_grad;
    auto [eigenvalues, eigenvectors] = torch::linalg_eigh(second_moment.to(torch::kFloat64));
    const torch::Tensor u0 = eigenvectors.index({torch::indexing::Slice(), eigenvalues < threshold});
    return torch::matmul(u0, u0.t()).to(torch::kFloat32);
  });
}

absl::StatusOr<SecondMoments> ComputeSecondMoments(const Model& model, const Tokenizer& tokenizer,
                                                   const std::vector<int>& layers, const StatisticsOptions& o) {
  const std::string fingerprint = o.cache_dir.empty() ? "" : ModelFingerprint(model);
  MUKE_ASSIGN_OR_RETURN(SecondMoments moments, LoadOrComputeSecondMoments(model, tokenizer, layers, o, fingerprint));
  if (o.null_space_threshold > 0) {
    MUKE_RETURN_IF_ERROR(CatchExceptions("null space", [&] { return AddNullSpaces(model, o, fingerprint, moments); }));
  }
  return moments;
}

}  // namespace muke
