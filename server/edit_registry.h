// The edits a server has accepted: each one's resource (muke.v1.Edit), its event log (what WatchEdit streams)
// and, once committed, the weights it replaced. The gRPC handlers submit, read, list, cancel and watch edits
// here; the edit worker reports every state change and step here. With an EditJournal, every acceptance and
// every end is made durable before it is visible. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/model/model.h"
#include "muke/v1/knowledge_editor.pb.h"
#include "server/edit_journal.h"
#include "server/edit_queue.h"
#include "server/edit_request.h"
#include "server/server_metrics.h"

namespace muke::server {

inline constexpr int kDefaultPageSize = 20;
inline constexpr int kMaxPageSize = 100;

bool IsTerminal(muke::v1::EditState state);

class EditRegistry {
 public:
  // `queue` (which carries the ids to the worker), `journal` (may be null: nothing is persisted) and
  // `metrics` (which the registry keeps up to date with every edit's progress) must outlive the registry.
  EditRegistry(EditQueue& queue, EditJournal* journal, ServerMetrics& metrics);

  // Whether accepted edits survive a restart (there is a journal).
  bool durable() const { return journal_ != nullptr; }

  // Records a new QUEUED edit (journaled) and queues it, or returns the edit submitted earlier with the same
  // request_id. The queue's errors (RESOURCE_EXHAUSTED when full) and the journal's (UNAVAILABLE) leave
  // nothing recorded.
  absl::StatusOr<muke::v1::Edit> Submit(const muke::v1::EditKnowledgeRequest& request, EditPlan plan);
  // NOT_FOUND for an unknown id.
  absl::StatusOr<muke::v1::Edit> Get(const std::string& id) const;
  // Newest first; INVALID_ARGUMENT for a page size outside [0, kMaxPageSize] or a token not from this server.
  absl::StatusOr<muke::v1::ListEditsResponse> List(int page_size, const std::string& page_token) const;
  // A queued edit becomes CANCELLED at once; a running one is flagged for the worker (see Job::cancel).
  // FAILED_PRECONDITION once the edit has ended.
  absl::StatusOr<muke::v1::Edit> Cancel(const std::string& id);
  // The edit's events from index `from` on; waits up to `wait` while there are none. NOT_FOUND for an
  // unknown id. The log ends with a terminal event.
  absl::StatusOr<std::vector<muke::v1::EditEvent>> Events(const std::string& id, size_t from,
                                                          std::chrono::milliseconds wait) const;

  // What the worker runs.
  struct Job {
    std::string id;
    EditPlan plan;
    std::shared_ptr<const std::atomic<bool>> cancel;  // set by Cancel while the edit runs
  };
  // QUEUED → RUNNING; nullopt when the edit is no longer queued (cancelled meanwhile).
  std::optional<Job> Start(const std::string& id);
  // RUNNING → APPLYING → VERIFYING.
  void Advance(const std::string& id, muke::v1::EditState state);
  void Step(const std::string& id, const muke::v1::EditStep& step);
  // Makes the commit of `id` durable before its weights are swapped in: the journal's weights file and
  // COMMITTED record (a no-op without a journal).
  absl::Status JournalCommit(const std::string& id, const muke::v1::EditMetrics& metrics,
                             const TensorMap& new_weights);
  // The terminal transition, journaled for FAILED and CANCELLED (COMMITTED went through JournalCommit).
  // `metrics` may be null (the edit ended before it was verified); `previous` holds the tensors a COMMITTED
  // edit replaced.
  void Finish(const std::string& id, muke::v1::EditState state, const std::string& error,
              const muke::v1::EditMetrics* metrics, TensorMap previous = {});
  // Shutdown: ends the running edit `id` CANCELLED with `reason` in memory only — the journal still holds it
  // as accepted, so the next start re-queues it.
  void Interrupt(const std::string& id, const std::string& reason);
  // The tensors the COMMITTED edit `id` replaced, when it is the newest edit still applied; FAILED_PRECONDITION
  // naming the newer one otherwise (rollbacks go newest first) or when `id` is not COMMITTED; NOT_FOUND.
  absl::StatusOr<TensorMap> RollbackWeights(const std::string& id) const;
  // The COMMITTED edits still served, oldest first.
  std::vector<muke::v1::Edit> Applied() const;
  // Makes the rollback of `id` durable before the worker puts RollbackWeights back.
  absl::Status JournalRollback(const std::string& id);
  // COMMITTED → ROLLED_BACK, after the worker has put RollbackWeights back.
  muke::v1::Edit MarkRolledBack(const std::string& id);
  // Shutdown: ends every edit still QUEUED as CANCELLED with `reason`, in memory only (see Interrupt).
  void CancelQueued(const std::string& reason);

  // Recovery at startup, oldest edit first (see edit_recovery.h). `history` holds the edit's journaled
  // snapshots in order (the last is its state); an applied COMMITTED edit comes with the tensors it replaced.
  void Restore(const std::vector<muke::v1::Edit>& history, TensorMap previous);
  // An edit the journal holds as unfinished: QUEUED again (beyond the queue's capacity if need be), with a
  // note in its event log; when it cannot be planned any more, FAILED (journaled) with the reason.
  void Requeue(const std::vector<muke::v1::Edit>& history, absl::StatusOr<EditPlan> plan);

 private:
  struct Record {
    muke::v1::Edit edit;
    std::vector<muke::v1::EditEvent> events;
    EditPlan plan;
    std::shared_ptr<std::atomic<bool>> cancel = std::make_shared<std::atomic<bool>>(false);
    TensorMap previous_weights;  // for a later rollback
  };

  // Sets the state (and update time) and logs the state-change event; caller holds mu_.
  void Transition(Record& record, muke::v1::EditState state);
  // Appends the record's edit to the journal (when there is one); caller holds mu_.
  absl::Status Journal(const Record& record);
  // Journals an edit that ended without changing the weights (FAILED, CANCELLED); a failed write is logged,
  // not returned (the edit is then re-queued at the next start). Caller holds mu_.
  void JournalEnd(const Record& record);
  // Counts a journal write's outcome in the metrics and passes it on.
  absl::Status Journaled(absl::Status status);
  // A record for `edit` (recovery); caller holds mu_.
  Record& Insert(const std::vector<muke::v1::Edit>& history);
  Record* Find(const std::string& id);
  const Record* Find(const std::string& id) const;
  std::string NewId();

  EditQueue& queue_;
  EditJournal* const journal_;
  ServerMetrics& metrics_;
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;  // notified on every new event
  std::map<std::string, Record> records_;
  std::vector<std::string> applied_;  // COMMITTED edits still served, oldest first
  std::vector<std::string> order_;  // ids, oldest first
  std::map<std::string, std::string> by_request_id_;
  std::mt19937_64 random_{std::random_device{}()};
};

}  // namespace muke::server
