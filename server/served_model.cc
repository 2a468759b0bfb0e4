#include "server/served_model.h"

#include <mutex>
#include <shared_mutex>
#include <optional>
#include <utility>

#include "core/model/fingerprint.h"
#include "core/util/status.h"

namespace muke::server {
namespace {

int64_t CountParameters(const Model& model) {
  int64_t count = 0;
  for (const auto& [name, tensor] : model.NamedParameters()) count += tensor.numel();
  return count;
}

}  // namespace

ServedModel::ServedModel(std::string dir, std::unique_ptr<Model> model, std::unique_ptr<Tokenizer> tokenizer,
                         std::optional<ChatFormat> chat, EditorConfig editor_config)
    : dir_(std::move(dir)),
      model_(std::move(model)),
      tokenizer_(std::move(tokenizer)),
      parameter_count_(CountParameters(*model_)),
      chat_(std::move(chat)),
      editor_(*model_, *tokenizer_, chat_ ? &*chat_ : nullptr, std::move(editor_config)) {}

absl::StatusOr<TimedGeneration> ServedModel::Generate(const std::vector<int64_t>& prompt_ids,
                                                      GenerateOptions options) const {
  using Clock = std::chrono::steady_clock;
  std::optional<Clock::time_point> first_token;
  options.on_token = [&first_token, on_token = std::move(options.on_token)](int64_t id) {
    if (!first_token) first_token = Clock::now();
    return !on_token || on_token(id);
  };

  std::shared_lock lock(weights_mutex_);
  const Clock::time_point start = Clock::now();
  MUKE_ASSIGN_OR_RETURN(GenerateResult result, CatchExceptions("generate", [&]() -> absl::StatusOr<GenerateResult> {
    return muke::Generate(*model_, prompt_ids, options);
  }));
  const Clock::time_point end = Clock::now();
  const Clock::time_point split = first_token.value_or(end);
  return TimedGeneration{std::move(result), split - start, end - split};
}

absl::StatusOr<EditTokens> ServedModel::TokenizeEdit(const EditRequest& request) const {
  return editor_.Tokenize(request);
}

absl::StatusOr<EditResult> ServedModel::ComputeEdit(const EditTokens& tokens, const EditOptions& options,
                                                    const EditProgressFn& progress) const {
  std::shared_lock lock(weights_mutex_);
  return editor_.Edit({tokens}, options, progress);
}

std::string ServedModel::Fingerprint() const {
  std::shared_lock lock(weights_mutex_);
  return ModelFingerprint(*model_);
}

absl::Status ServedModel::Save(const std::string& dir, uint64_t max_shard_bytes) const {
  std::shared_lock lock(weights_mutex_);
  return model_->Save(dir, model_->dtype(), max_shard_bytes);
}

absl::StatusOr<TensorMap> ServedModel::ApplyEdit(const TensorMap& new_weights) {
  std::unique_lock lock(weights_mutex_);
  return CatchExceptions("apply", [&] { return editor_.Apply(new_weights); });
}

}  // namespace muke::server
