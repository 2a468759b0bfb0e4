// The model muke-server serves: its weights behind a reader/writer lock, its tokenizer and where it came
// from. Generation holds the lock shared for its whole run; the edit worker (a later version) takes it
// exclusively to swap weights in, so a client never sees half an edit. The configuration and tokenizer
// never change and are read without the lock.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/model/generate.h"
#include "core/model/model.h"
#include "core/tokenizer/tokenizer.h"

namespace muke::server {

// A generation's result and where its time went.
struct TimedGeneration {
  GenerateResult result;
  std::chrono::nanoseconds prefill{0};  // start until the first new token was chosen
  std::chrono::nanoseconds decode{0};   // first new token until the end (includes the on_token callbacks)
};

class ServedModel {
 public:
  ServedModel(std::string dir, std::unique_ptr<Model> model, std::unique_ptr<Tokenizer> tokenizer);

  const std::string& dir() const { return dir_; }
  const ModelConfig& config() const { return model_->config(); }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  torch::Device device() const { return model_->device(); }
  torch::ScalarType dtype() const { return model_->dtype(); }
  int64_t parameter_count() const { return parameter_count_; }

  // Runs muke::Generate under the shared lock and times it. Never throws.
  absl::StatusOr<TimedGeneration> Generate(const std::vector<int64_t>& prompt_ids, GenerateOptions options) const;

 private:
  const std::string dir_;
  const std::unique_ptr<Model> model_;
  const std::unique_ptr<Tokenizer> tokenizer_;
  const int64_t parameter_count_;
  mutable std::shared_mutex weights_mutex_;
};

}  // namespace muke::server
