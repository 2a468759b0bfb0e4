#include "server/edit_worker.h"

#include <chrono>
#include <cmath>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/eval/bleu.h"
#include "core/util/log.h"
#include "core/util/status.h"

namespace muke::server {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kShutdownReason[] = "server shutting down";
constexpr char kShutdownRequeueReason[] = "server shutting down; the edit runs again when the server restarts";
constexpr char kCancelReason[] = "cancelled by CancelEdit";
// Step events between the first and the last of a window are sent at most this often.
constexpr auto kStepEventInterval = std::chrono::milliseconds(100);

double SecondsSince(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Greedy answer to `prompt` with the edit's weights, special tokens removed, and its char-BLEU against the target.
struct Answer {
  std::string text;
  double char_bleu = 0;
};
absl::StatusOr<Answer> VerifyAnswer(const ServedModel& model, const std::vector<int64_t>& prompt,
                                    const EditPlan& plan, const TensorMap& weights,
                                    const std::function<bool()>& interrupted) {
  GenerateOptions options;
  options.max_new_tokens = plan.verify_max_new_tokens;
  options.stop_ids = model.tokenizer().eos_ids();
  options.weight_overrides = &weights;
  options.on_token = [&](int64_t) { return !interrupted(); };
  MUKE_ASSIGN_OR_RETURN(TimedGeneration generation, model.Generate(prompt, options));
  Answer answer;
  MUKE_ASSIGN_OR_RETURN(answer.text, model.tokenizer().Decode(generation.result.ids, true));
  answer.char_bleu = CharBleu(PadPrediction(answer.text), plan.target);
  return answer;
}

// Decides which shift steps become events: a window's first and last always, others at most every 100 ms.
class StepThrottle {
 public:
  explicit StepThrottle(const ShiftOptions& options) : options_(options) {}

  bool Send(const ShiftProgress& p) {
    const bool last = p.step + 1 >= options_.steps || !(p.loss >= options_.early_stop_loss);
    const Clock::time_point now = Clock::now();
    if (p.step == 0 || last || now - last_sent_ >= kStepEventInterval) {
      last_sent_ = now;
      return true;
    }
    return false;
  }

 private:
  const ShiftOptions& options_;
  Clock::time_point last_sent_;
};

}  // namespace

EditWorker::EditWorker(ServedModel& model, EditRegistry& registry, EditQueue& queue)
    : model_(model), registry_(registry), queue_(queue), thread_([this] { Run(); }) {}

EditWorker::~EditWorker() { Stop(); }

void EditWorker::Stop() {
  stopping_ = true;
  queue_.Close();
  if (thread_.joinable()) thread_.join();
  registry_.CancelQueued(registry_.durable() ? kShutdownRequeueReason : kShutdownReason);
}

void EditWorker::Run() {
  while (std::optional<std::string> id = queue_.Pop()) {
    if (std::optional<EditRegistry::Job> job = registry_.Start(*id)) Process(*job);
  }
}

absl::StatusOr<muke::v1::Edit> EditWorker::Rollback(const std::string& id) {
  std::lock_guard lock(changes_mu_);
  MUKE_ASSIGN_OR_RETURN(TensorMap previous, registry_.RollbackWeights(id));
  MUKE_RETURN_IF_ERROR(registry_.JournalRollback(id));
  MUKE_RETURN_IF_ERROR(model_.ApplyEdit(previous).status());
  Log(LogLevel::kInfo, "edit_rolled_back", {{"id", id}});
  return registry_.MarkRolledBack(id);
}

absl::Status EditWorker::WithoutChanges(const std::function<absl::Status()>& fn) {
  std::lock_guard lock(changes_mu_);
  return fn();
}

void EditWorker::Process(const EditRegistry::Job& job) {
  std::lock_guard changes(changes_mu_);
  const Clock::time_point start = Clock::now();
  const EditPlan& plan = job.plan;
  const std::function<bool()> interrupted = [&] { return stopping_.load() || job.cancel->load(); };
  auto finish = [&](muke::v1::EditState state, const std::string& error, const muke::v1::EditMetrics* metrics,
                    TensorMap previous = {}) {
    registry_.Finish(job.id, state, error, metrics, std::move(previous));
    Log(LogLevel::kInfo, "edit_finished",
        {{"id", job.id},
         {"state", muke::v1::EditState_Name(state)},
         {"error", error},
         {"seconds", std::to_string(SecondsSince(start))}});
  };
  auto cancelled = [&](const muke::v1::EditMetrics* metrics) {
    if (!stopping_) return finish(muke::v1::EDIT_STATE_CANCELLED, kCancelReason, metrics);
    // Still accepted in the journal: the next start runs it again.
    const char* reason = registry_.durable() ? kShutdownRequeueReason : kShutdownReason;
    registry_.Interrupt(job.id, reason);
    Log(LogLevel::kInfo, "edit_interrupted", {{"id", job.id}, {"reason", reason}});
  };
  Log(LogLevel::kInfo, "edit_started", {{"id", job.id}, {"target_tokens", std::to_string(plan.tokens.target.size())}});

  StepThrottle throttle(plan.options.shift);
  const EditProgressFn progress = [&](const EditProgress& p) {
    if (p.stage == EditProgress::Stage::kShift && throttle.Send(p.shift)) {
      muke::v1::EditStep step;
      step.set_window(p.shift.shift);
      step.set_num_windows(p.shift.num_shifts);
      step.set_step(p.shift.step);
      step.set_loss(p.shift.loss);
      registry_.Step(job.id, step);
    } else if (p.stage == EditProgress::Stage::kUpdate) {
      registry_.Advance(job.id, muke::v1::EDIT_STATE_APPLYING);
    }
  };
  EditOptions options = plan.options;
  options.should_stop = interrupted;
  absl::StatusOr<EditResult> result = model_.ComputeEdit(plan.tokens, options, progress);
  if (interrupted()) return cancelled(nullptr);
  if (!result.ok()) return finish(muke::v1::EDIT_STATE_FAILED, std::string(result.status().message()), nullptr);

  muke::v1::EditMetrics metrics;
  const EditCaseResult& c = result->cases.at(0);
  metrics.set_nll_before(c.nll_before);
  metrics.set_nll_hooked(c.nll_hooked);
  metrics.set_nll_after(c.nll_after);
  metrics.set_windows(static_cast<int32_t>(c.shifts.traces.size()));
  int steps = 0;
  for (const ShiftTrace& trace : c.shifts.traces) steps += trace.steps;
  metrics.set_steps(steps);
  auto& stage_seconds = *metrics.mutable_stage_seconds();
  for (const auto& [stage, seconds] : result->stage_seconds) stage_seconds[stage] = seconds;

  registry_.Advance(job.id, muke::v1::EDIT_STATE_VERIFYING);
  Clock::time_point t0 = Clock::now();
  absl::StatusOr<Answer> answer = VerifyAnswer(model_, plan.tokens.prompt, plan, result->new_weights, interrupted);
  for (size_t i = 0; answer.ok() && i < plan.paraphrase_prompts.size(); ++i) {
    absl::StatusOr<Answer> paraphrase =
        VerifyAnswer(model_, plan.paraphrase_prompts[i], plan, result->new_weights, interrupted);
    if (!paraphrase.ok()) {
      answer = paraphrase.status();
      break;
    }
    metrics.add_paraphrase_char_bleu(paraphrase->char_bleu);
    metrics.add_paraphrase_predictions(paraphrase->text);
  }
  stage_seconds["verify"] = SecondsSince(t0);
  if (interrupted()) return cancelled(nullptr);
  if (!answer.ok()) return finish(muke::v1::EDIT_STATE_FAILED, std::string(answer.status().message()), nullptr);
  metrics.set_char_bleu(answer->char_bleu);
  metrics.set_prediction(answer->text);
  if (plan.acceptance_threshold && !(answer->char_bleu >= *plan.acceptance_threshold)) {
    return finish(muke::v1::EDIT_STATE_FAILED,
                  absl::StrCat("verified char-BLEU ", answer->char_bleu, " is below the acceptance threshold ",
                               *plan.acceptance_threshold),
                  &metrics);
  }

  // The last point at which a cancel is honoured: from here on the edit is committed.
  if (interrupted()) return cancelled(&metrics);
  t0 = Clock::now();
  if (absl::Status journaled = registry_.JournalCommit(job.id, metrics, result->new_weights); !journaled.ok()) {
    return finish(muke::v1::EDIT_STATE_FAILED, absl::StrCat("could not journal the commit: ", journaled.message()),
                  &metrics);
  }
  stage_seconds["journal"] = SecondsSince(t0);
  t0 = Clock::now();
  absl::StatusOr<TensorMap> previous = model_.ApplyEdit(result->new_weights);
  stage_seconds["apply"] = SecondsSince(t0);
  if (!previous.ok()) return finish(muke::v1::EDIT_STATE_FAILED, std::string(previous.status().message()), &metrics);
  finish(muke::v1::EDIT_STATE_COMMITTED, "", &metrics, std::move(*previous));
}

}  // namespace muke::server
