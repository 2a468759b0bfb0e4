// The model muke-server serves: its weights behind a reader/writer lock, its tokenizer, its editor and where it
// came from. Generation and edit computations (which only read the weights) hold the lock shared; ApplyEdit
// takes it exclusively for the swap alone, so a client never sees half an edit. The lock prefers a waiting
// writer: the swap waits for the generations in flight, new ones wait for the swap (milliseconds). The
// configuration and tokenizer never change and are read without the lock.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/edit/editor.h"
#include "core/model/generate.h"
#include "core/model/model.h"
#include "core/tokenizer/chat_format.h"
#include "core/tokenizer/tokenizer.h"
#include "server/writer_preferring_mutex.h"

namespace muke::server {

// A generation's result and where its time went.
struct TimedGeneration {
  GenerateResult result;
  std::chrono::nanoseconds prefill{0};  // start until the first new token was chosen
  std::chrono::nanoseconds decode{0};   // first new token until the end (includes the on_token callbacks)
};

class ServedModel {
 public:
  // `chat` is the model's chat template, if it has one (edit prompts are wrapped in it).
  ServedModel(std::string dir, std::unique_ptr<Model> model, std::unique_ptr<Tokenizer> tokenizer,
              std::optional<ChatFormat> chat, EditorConfig editor_config);

  const std::string& dir() const { return dir_; }
  const ModelConfig& config() const { return model_->config(); }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  torch::Device device() const { return model_->device(); }
  torch::ScalarType dtype() const { return model_->dtype(); }
  int64_t parameter_count() const { return parameter_count_; }
  // The model's chat template; null when it has none.
  const ChatFormat* chat() const { return chat_ ? &*chat_ : nullptr; }

  // Runs muke::Generate under the shared lock and times it. Never throws.
  absl::StatusOr<TimedGeneration> Generate(const std::vector<int64_t>& prompt_ids, GenerateOptions options) const;

  // Editor::Tokenize: the prompt (chat-wrapped) and target ids of an edit.
  absl::StatusOr<EditTokens> TokenizeEdit(const EditRequest& request) const;
  // Editor::Edit under the shared lock: new weights computed on copies; the served ones are unchanged.
  absl::StatusOr<EditResult> ComputeEdit(const EditTokens& tokens, const EditOptions& options,
                                         const EditProgressFn& progress) const;
  // ModelFingerprint of the current weights, under the shared lock.
  std::string Fingerprint() const;
  // Model::Save of the current weights (in the served dtype) into `dir`, under the shared lock.
  absl::Status Save(const std::string& dir, uint64_t max_shard_bytes) const;
  // Editor::Apply under the exclusive lock: swaps `new_weights` in (all or nothing) and returns the tensors
  // they replaced, which restore the model to its state before.
  absl::StatusOr<TensorMap> ApplyEdit(const TensorMap& new_weights);

 private:
  const std::string dir_;
  const std::unique_ptr<Model> model_;
  const std::unique_ptr<Tokenizer> tokenizer_;
  const int64_t parameter_count_;
  const std::optional<ChatFormat> chat_;
  // Reads the model under the lock's shared side (ComputeEdit), writes it under the exclusive one (ApplyEdit).
  Editor editor_;
  mutable WriterPreferringMutex weights_mutex_;
};

}  // namespace muke::server
