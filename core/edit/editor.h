// The Editor facade: one μKE edit (or a batch of edits sharing one weight update) from text to new weights.
// Edit() tokenises, optimises the memory shifts per request, runs the weight update on copies and measures the
// target NLL before / with the shifts / after; it never touches the model. Apply() swaps the new tensors in and
// returns the old ones; Restore() puts them back. The caller serialises Apply/Restore against readers.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "core/edit/shift_optimizer.h"
#include "core/edit/statistics.h"
#include "core/edit/strategy.h"
#include "core/edit/unke.h"
#include "core/model/model.h"
#include "core/tokenizer/chat_format.h"
#include "core/tokenizer/tokenizer.h"

namespace muke {

enum class UpdateKind { kMemit, kAlphaEdit, kUnke };
// "memit", "alphaedit", "unke"; INVALID_ARGUMENT otherwise.
absl::StatusOr<UpdateKind> ParseUpdate(std::string_view name);
std::string_view UpdateName(UpdateKind kind);

struct EditRequest {
  std::string prompt;  // the question; wrapped in the chat template (one user turn) when the model has one
  std::string target;  // the answer the model should give
};

// A request as the engine sees it: prompt and target tokenised once (ALGORITHM.md §2).
struct EditTokens {
  std::vector<int64_t> prompt;
  std::vector<int64_t> target;  // ends with the chat template's end-of-turn id, else the first EOS id
};

struct EditOptions {
  StrategyKind strategy = StrategyKind::kMuke;
  StrategyOptions strategy_options;
  UpdateKind update = UpdateKind::kMemit;
  int64_t window_size = 20;
  ShiftOptions shift;       // shift.hook_layer is the hook layer L
  std::vector<int> layers;  // edited layers, ascending, ending at or below L
  double lambda = 15000;    // MEMIT's λ
  bool float64_solve = true;
  double null_space_threshold = 2e-2;  // AlphaEdit
  double alphaedit_l2 = 10;            // AlphaEdit's ridge term
  UnkeOptions unke;                    // layers/hook_layer are taken from above
  int64_t preservation_sequences = 20;  // UnKE
  int64_t preservation_tokens = 64;
  // Polled between stages and before every optimisation / UnKE step: true ends the edit with CANCELLED (the
  // statistics pass, when it runs, finishes first). Overrides shift.should_stop and unke.should_stop.
  std::function<bool()> should_stop;
};

// The reference settings for a model (ALGORITHM.md §3-4, scaled by depth), and the tuned ones for tiny models
// (≤ 8 layers, e.g. stories260K; see docs/results).
EditOptions DefaultEditOptions(const ModelConfig& config, UpdateKind update = UpdateKind::kMemit);

// Where the engine is: statistics (done/total sequences), a shift step, the update, the measurements.
struct EditProgress {
  enum class Stage { kStatistics, kShift, kUpdate, kMeasure } stage = Stage::kShift;
  int request = 0;      // index in the batch (kShift)
  ShiftProgress shift;  // kShift
  int64_t done = 0, total = 0;  // kStatistics
};
using EditProgressFn = std::function<void(const EditProgress&)>;

struct EditCaseResult {
  EditLayout layout;
  ShiftResult shifts;
  double nll_before = 0;  // mean NLL per target token (nats) of the unedited model
  double nll_hooked = 0;  // with every shift applied, before the weight update: the ceiling
  double nll_after = 0;   // with the new weights, no shifts
};

struct EditResult {
  std::vector<EditCaseResult> cases;
  TensorMap new_weights;                      // the touched parameters, by Hugging Face name
  std::map<std::string, double> stage_seconds;  // statistics, affinity, optimise, update, measure
};

struct EditorConfig {
  StatisticsOptions statistics;  // corpus (empty = self-sampled), cache directory, sample counts
};

class Editor {
 public:
  // `chat` may be null (no chat template). The model, tokenizer and chat format must outlive the editor.
  Editor(Model& model, const Tokenizer& tokenizer, const ChatFormat* chat, EditorConfig config);

  absl::StatusOr<EditTokens> Tokenize(const EditRequest& request) const;

  // Computes an edit of the current weights for every request in `batch`, with one weight update.
  // INVALID_ARGUMENT for bad options or sequences longer than the model's context; INTERNAL for a
  // non-finite value anywhere; CANCELLED when options.should_stop says so. The model is unchanged in every case.
  absl::StatusOr<EditResult> Edit(const std::vector<EditTokens>& batch, const EditOptions& options,
                                  const EditProgressFn& progress = {}) const;

  // Swaps `new_weights` into the model; returns the tensors they replaced (for Restore). All or nothing.
  absl::StatusOr<TensorMap> Apply(const TensorMap& new_weights);
  absl::Status Restore(const TensorMap& previous);

  const Model& model() const { return model_; }

 private:
  absl::StatusOr<SecondMoments> Statistics(const std::vector<int>& layers, bool null_space, double threshold,
                                           const EditProgressFn& progress) const;
  absl::StatusOr<torch::Tensor> Preservation(int64_t count, int64_t tokens) const;

  Model& model_;
  const Tokenizer& tokenizer_;
  const ChatFormat* chat_;
  EditorConfig config_;
  // Statistics of the unedited model, computed on first use (or read from the disk cache) and kept.
  mutable std::mutex mu_;
  mutable std::map<int, torch::Tensor> second_moments_, null_spaces_;
  mutable double null_space_threshold_ = 0;
  mutable torch::Tensor preservation_;
  std::optional<int64_t> answer_end_;  // appended to every target
};

}  // namespace muke
