#include "core/edit/editor.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/edit/memit.h"
#include "core/util/status.h"
#include "core/util/string_view.h"

namespace muke {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::vector<int> Range(int first, int last) {
  std::vector<int> out;
  for (int l = std::max(0, first); l <= last; ++l) out.push_back(l);
  return out;
}

absl::Status ValidateOptions(const Model& model, const EditOptions& o) {
  const int n = model.num_layers();
  const int hook = o.shift.hook_layer;
  if (hook < 0 || hook >= n) {
    return absl::InvalidArgumentError(absl::StrCat("hook_layer ", hook, " must lie in [0, ", n, ")"));
  }
  if (o.layers.empty() || !std::is_sorted(o.layers.begin(), o.layers.end()) ||
      std::adjacent_find(o.layers.begin(), o.layers.end()) != o.layers.end() || o.layers.front() < 0 ||
      o.layers.back() > hook) {
    return absl::InvalidArgumentError(absl::StrCat("layers [", absl::StrJoin(o.layers, ", "),
                                                   "] must be strictly ascending within [0, hook_layer ", hook, "]"));
  }
  if (o.window_size < 1) return absl::InvalidArgumentError("window_size must be >= 1");
  if (!(o.lambda >= 0)) return absl::InvalidArgumentError("lambda must be >= 0");
  if (o.update == UpdateKind::kUnke && (o.preservation_sequences < 1 || o.preservation_tokens < 2)) {
    return absl::InvalidArgumentError("unke needs preservation_sequences >= 1 and preservation_tokens >= 2");
  }
  return absl::OkStatus();
}

absl::Status ValidateTokens(const Model& model, const std::vector<EditTokens>& batch) {
  if (batch.empty()) return absl::InvalidArgumentError("edit: no requests");
  const int64_t context = model.config().max_position_embeddings, vocab = model.config().vocab_size;
  for (size_t i = 0; i < batch.size(); ++i) {
    const EditTokens& e = batch[i];
    if (e.prompt.empty()) return absl::InvalidArgumentError(absl::StrCat("request ", i, ": prompt has no tokens"));
    if (e.target.empty()) return absl::InvalidArgumentError(absl::StrCat("request ", i, ": target has no tokens"));
    const int64_t length = e.prompt.size() + e.target.size();
    if (length > context) {
      return absl::InvalidArgumentError(absl::StrCat("request ", i, ": prompt + target is ", length,
                                                     " tokens, the model's context is ", context));
    }
    for (const auto* ids : {&e.prompt, &e.target}) {
      for (int64_t id : *ids) {
        if (id < 0 || id >= vocab) {
          return absl::InvalidArgumentError(absl::StrCat("request ", i, ": token id ", id, " outside [0, ", vocab, ")"));
        }
      }
    }
  }
  return absl::OkStatus();
}

// The id that ends an answer: for chat models the first token the template writes after an assistant turn
// (Llama-3 <|eot_id|>, Qwen2.5 <|im_end|>, Llama-2 </s>), else the model's first EOS id.
std::optional<int64_t> AnswerEndId(const Tokenizer& tokenizer, const ChatFormat* chat) {
  if (chat) {
    const std::string marker = "MUKE-ANSWER-MARKER";
    auto rendered = chat->Render({{"user", "Q"}, {"assistant", marker}}, false);
    const size_t at = rendered.ok() ? rendered->find(marker) : std::string::npos;
    if (at != std::string::npos) {
      std::string suffix = rendered->substr(at + marker.size());
      suffix.erase(0, std::min(suffix.size(), suffix.find_first_not_of(" \t\n")));
      auto ids = tokenizer.Encode(suffix, false);
      if (ids.ok() && !ids->empty()) return ids->front();
    }
  }
  if (!tokenizer.eos_ids().empty()) return tokenizer.eos_ids().front();
  return std::nullopt;
}

std::vector<int64_t> Concat(const EditTokens& e) {
  std::vector<int64_t> ids = e.prompt;
  ids.insert(ids.end(), e.target.begin(), e.target.end());
  return ids;
}

}  // namespace

absl::StatusOr<UpdateKind> ParseUpdate(std::string_view name) {
  if (name == "memit") return UpdateKind::kMemit;
  if (name == "alphaedit") return UpdateKind::kAlphaEdit;
  if (name == "unke") return UpdateKind::kUnke;
  return absl::InvalidArgumentError(absl::StrCat("update must be memit, alphaedit or unke, got '", AbslView(name), "'"));
}

std::string_view UpdateName(UpdateKind kind) {
  switch (kind) {
    case UpdateKind::kMemit: return "memit";
    case UpdateKind::kAlphaEdit: return "alphaedit";
    case UpdateKind::kUnke: return "unke";
  }
  return "?";
}

EditOptions DefaultEditOptions(const ModelConfig& config, UpdateKind update) {
  EditOptions o;
  o.update = update;
  const int n = config.num_hidden_layers;
  if (n <= 8) {
    // Tiny models are capacity-starved: short windows and a late hook layer (ALGORITHM.md §7, docs/results).
    o.window_size = 1;
    o.shift.hook_layer = n - 1;
    o.shift.steps = 50;
    o.layers = update == UpdateKind::kUnke ? std::vector<int>{n - 1} : Range(n - 2, n - 1);
    o.lambda = 1;
    o.unke.learning_rate = 5e-3;
    o.unke.steps = 200;
    o.unke.preservation_weight = 3;
    o.preservation_sequences = 60;
    // The keys of a 64-wide model span their space: C's smallest eigenvalues are ~0.01-0.03, so the reference's
    // absolute 2e-2 leaves AlphaEdit (almost) no null space to write into.
    o.null_space_threshold = 0.1;
    return o;
  }
  // Reference: an early-middle hook layer (8 of 32 for Llama-3-8B, 7 of 28 for Qwen2.5-7B), MEMIT on the five
  // blocks ending there, UnKE on the hook block; Llama 30-token windows and 50 steps, Qwen 20 and 25.
  const int hook = n / 4;
  o.shift.hook_layer = hook;
  o.layers = update == UpdateKind::kUnke ? std::vector<int>{hook} : Range(hook - 4, hook);
  const bool qwen = config.model_type == "qwen2";
  o.window_size = qwen ? 20 : 30;
  o.shift.steps = qwen ? 25 : 50;
  o.unke.steps = qwen ? 50 : 70;
  return o;
}

Editor::Editor(Model& model, const Tokenizer& tokenizer, const ChatFormat* chat, EditorConfig config)
    : model_(model), tokenizer_(tokenizer), chat_(chat), config_(std::move(config)),
      answer_end_(AnswerEndId(tokenizer, chat)) {}

absl::StatusOr<EditTokens> Editor::Tokenize(const EditRequest& request) const {
  if (request.prompt.empty()) return absl::InvalidArgumentError("prompt is empty");
  if (request.target.empty()) return absl::InvalidArgumentError("target is empty");
  EditTokens out;
  if (chat_) {
    MUKE_ASSIGN_OR_RETURN(std::string rendered, chat_->Render({{"user", request.prompt}}, true));
    MUKE_ASSIGN_OR_RETURN(out.prompt, tokenizer_.Encode(rendered, false));
  } else {
    MUKE_ASSIGN_OR_RETURN(out.prompt, tokenizer_.Encode(request.prompt, true));
  }
  // The answer ends with the end-of-turn (chat) or end-of-sequence id, so the edited model also learns to stop.
  MUKE_ASSIGN_OR_RETURN(out.target, tokenizer_.Encode(request.target, false));
  if (answer_end_) out.target.push_back(*answer_end_);
  if (out.prompt.empty() || out.target.empty()) return absl::InvalidArgumentError("prompt or target has no tokens");
  return out;
}

absl::StatusOr<SecondMoments> Editor::Statistics(const std::vector<int>& layers, bool null_space, double threshold,
                                                 const EditProgressFn& progress) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (null_space && threshold != null_space_threshold_) null_spaces_.clear();
  std::vector<int> missing;
  for (int l : layers) {
    if (!second_moments_.count(l) || (null_space && !null_spaces_.count(l))) missing.push_back(l);
  }
  if (!missing.empty()) {
    StatisticsOptions so = config_.statistics;
    so.null_space_threshold = null_space ? threshold : 0;
    so.progress = [&](int64_t done, int64_t total) {
      if (progress) progress({EditProgress::Stage::kStatistics, 0, {}, done, total});
    };
    MUKE_ASSIGN_OR_RETURN(SecondMoments computed, ComputeSecondMoments(model_, tokenizer_, missing, so));
    for (auto& [l, c] : computed.by_layer) second_moments_[l] = c;
    for (auto& [l, p] : computed.null_space) null_spaces_[l] = p;
    if (null_space) null_space_threshold_ = threshold;
  }
  SecondMoments out;
  for (int l : layers) {
    out.by_layer[l] = second_moments_.at(l);
    if (null_space) out.null_space[l] = null_spaces_.at(l);
  }
  return out;
}

absl::StatusOr<torch::Tensor> Editor::Preservation(int64_t count, int64_t tokens) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (preservation_.defined() && preservation_.size(0) == count && preservation_.size(1) <= tokens) {
    return preservation_;
  }
  StatisticsOptions so = config_.statistics;
  so.num_samples = count;
  so.sample_tokens = tokens;
  so.corpus.resize(std::min<size_t>(so.corpus.size(), count));
  MUKE_ASSIGN_OR_RETURN(auto sequences, PreservationSequences(model_, tokenizer_, so));
  // One rectangular batch: every sequence cut to the shortest (at least 2 tokens).
  int64_t length = tokens;
  for (const auto& s : sequences) length = std::min<int64_t>(length, s.size());
  if (sequences.empty() || length < 2) return absl::FailedPreconditionError("unke: no usable preservation sequences");
  torch::Tensor batch = torch::empty({static_cast<int64_t>(sequences.size()), length}, torch::kInt64);
  for (size_t i = 0; i < sequences.size(); ++i) {
    batch[i] = torch::tensor(std::vector<int64_t>(sequences[i].begin(), sequences[i].begin() + length), torch::kInt64);
  }
  preservation_ = batch;
  return batch;
}

absl::StatusOr<EditResult> Editor::Edit(const std::vector<EditTokens>& batch, const EditOptions& o,
                                        const EditProgressFn& progress) const {
  MUKE_RETURN_IF_ERROR(ValidateOptions(model_, o));
  MUKE_RETURN_IF_ERROR(ValidateTokens(model_, batch));
  EditResult result;
  const int hook = o.shift.hook_layer;

  // Statistics first: they are the slow part on a cold start, and shared by every later edit.
  SecondMoments moments;
  auto t0 = std::chrono::steady_clock::now();
  if (o.update != UpdateKind::kUnke) {
    MUKE_ASSIGN_OR_RETURN(moments, Statistics(o.layers, o.update == UpdateKind::kAlphaEdit, o.null_space_threshold,
                                              progress));
  }
  result.stage_seconds["statistics"] = SecondsSince(t0);
  const auto stopped = [&] { return o.should_stop && o.should_stop(); };
  ShiftOptions shift = o.shift;
  shift.should_stop = o.should_stop;

  const std::unique_ptr<Strategy> strategy = MakeStrategy(o.strategy, o.strategy_options);
  std::vector<EditSequence> sequences;
  std::vector<std::vector<int64_t>> all_ids;
  for (size_t i = 0; i < batch.size(); ++i) {
    EditCaseResult c;
    MUKE_ASSIGN_OR_RETURN(c.layout, MakeEditLayout(batch[i].prompt.size(), batch[i].target.size(), o.window_size));
    all_ids.push_back(Concat(batch[i]));
    const std::vector<int64_t>& ids = all_ids.back();
    auto on_step = [&](const ShiftProgress& p) {
      if (progress) progress({EditProgress::Stage::kShift, static_cast<int>(i), p, 0, 0});
    };
    MUKE_ASSIGN_OR_RETURN(c.shifts, OptimizeShifts(model_, ids, c.layout, *strategy, shift, on_step));
    result.stage_seconds["affinity"] += c.shifts.affinity_seconds;
    result.stage_seconds["optimise"] += c.shifts.optimise_seconds;
    EditSequence seq{std::vector<int64_t>(ids.begin(), ids.end() - 1), c.shifts.positions, c.shifts.targets};
    sequences.push_back(std::move(seq));
    result.cases.push_back(std::move(c));
  }

  if (stopped()) return absl::CancelledError("edit cancelled");
  if (progress) progress({EditProgress::Stage::kUpdate, 0, {}, 0, 0});
  t0 = std::chrono::steady_clock::now();
  if (o.update == UpdateKind::kUnke) {
    MUKE_ASSIGN_OR_RETURN(torch::Tensor preservation, Preservation(o.preservation_sequences, o.preservation_tokens));
    UnkeOptions unke = o.unke;
    unke.should_stop = o.should_stop;
    unke.layers = o.layers;
    unke.hook_layer = hook;
    MUKE_ASSIGN_OR_RETURN(result.new_weights, UnkeUpdate(model_, sequences, preservation, unke));
  } else {
    MemitOptions memit;
    memit.layers = o.layers;
    memit.hook_layer = hook;
    memit.lambda = o.lambda;
    memit.float64_solve = o.float64_solve;
    if (o.update == UpdateKind::kAlphaEdit) {
      memit.null_space = moments.null_space;
      memit.alphaedit_l2 = o.alphaedit_l2;
    }
    MUKE_ASSIGN_OR_RETURN(result.new_weights, MemitUpdate(model_, sequences, moments.by_layer, memit));
  }
  result.stage_seconds["update"] = SecondsSince(t0);

  if (stopped()) return absl::CancelledError("edit cancelled");
  if (progress) progress({EditProgress::Stage::kMeasure, 0, {}, 0, 0});
  t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < batch.size(); ++i) {
    EditCaseResult& c = result.cases[i];
    std::vector<BlockShift> shifts;
    for (size_t w = 0; w < c.shifts.deltas.size(); ++w) {
      shifts.push_back({hook, 0, c.shifts.positions[w], c.shifts.deltas[w]});
    }
    MUKE_ASSIGN_OR_RETURN(c.nll_before, TargetNll(model_, all_ids[i], c.layout));
    MUKE_ASSIGN_OR_RETURN(c.nll_hooked, TargetNll(model_, all_ids[i], c.layout, shifts));
    MUKE_ASSIGN_OR_RETURN(c.nll_after, TargetNll(model_, all_ids[i], c.layout, {}, &result.new_weights));
    if (!std::isfinite(c.nll_after)) {
      return absl::InternalError(absl::StrCat("edit: request ", i, " has a non-finite NLL after the update"));
    }
  }
  result.stage_seconds["measure"] = SecondsSince(t0);
  return result;
}

absl::StatusOr<TensorMap> Editor::Apply(const TensorMap& new_weights) {
  TensorMap previous;
  for (const auto& [name, value] : new_weights) {
    MUKE_ASSIGN_OR_RETURN(torch::Tensor current, model_.Parameter(name));
    if (!value.defined() || value.sizes() != current.sizes()) {
      return absl::InvalidArgumentError(absl::StrCat("apply: '", name, "' does not match the parameter's shape"));
    }
    previous[name] = current;
  }
  for (const auto& [name, value] : new_weights) {
    const absl::Status status = model_.SetParameter(name, value);
    if (!status.ok()) {
      for (const auto& [n, old] : previous) model_.SetParameter(n, old).IgnoreError();
      return status;
    }
  }
  return previous;
}

absl::Status Editor::Restore(const TensorMap& previous) { return Apply(previous).status(); }

}  // namespace muke
