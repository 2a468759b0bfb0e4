// The one thread that changes the served weights. It takes queued edits in order; for each it computes the
// new weights on copies (generation goes on meanwhile), verifies them by greedy generation from the prompt and
// each paraphrase, and swaps them in only when all of that succeeded (and the acceptance threshold, if any,
// was reached). Progress and the outcome are reported to the EditRegistry.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>

#include "server/edit_queue.h"
#include "server/edit_registry.h"
#include "server/served_model.h"

namespace muke::server {

class EditWorker {
 public:
  // Starts the thread. The arguments must outlive the worker.
  EditWorker(ServedModel& model, EditRegistry& registry, EditQueue& queue);
  ~EditWorker();  // Stop()

  // Graceful shutdown: closes the queue, interrupts the running edit at its next progress report (it ends
  // CANCELLED, "server shutting down", weights untouched), joins the thread and cancels the queued edits.
  // Idempotent.
  void Stop();

  // RollbackEdit: once no edit is being processed, puts back the weights `id` replaced (see
  // EditRegistry::RollbackWeights for the errors).
  absl::StatusOr<muke::v1::Edit> Rollback(const std::string& id);

  // Runs `fn` once no edit is being processed, with none applied or rolled back until it returns (exports).
  absl::Status WithoutChanges(const std::function<absl::Status()>& fn);

 private:
  void Run();
  void Process(const EditRegistry::Job& job);

  ServedModel& model_;
  EditRegistry& registry_;
  EditQueue& queue_;
  std::atomic<bool> stopping_{false};
  std::mutex changes_mu_;  // held while an edit is processed and during a rollback: one weight change at a time
  std::thread thread_;
};

}  // namespace muke::server
