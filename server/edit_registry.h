// The edits a server has accepted, in memory: each one's resource (muke.v1.Edit), its event log (what
// WatchEdit streams) and, once committed, the weights it replaced. The gRPC handlers submit, read, list,
// cancel and watch edits here; the edit worker reports every state change and step here. Thread-safe.
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
#include "server/edit_queue.h"
#include "server/edit_request.h"

namespace muke::server {

inline constexpr int kDefaultPageSize = 20;
inline constexpr int kMaxPageSize = 100;

bool IsTerminal(muke::v1::EditState state);

class EditRegistry {
 public:
  // `queue` (which carries the ids to the worker) must outlive the registry.
  explicit EditRegistry(EditQueue& queue);

  // Records a new QUEUED edit and queues it, or returns the edit submitted earlier with the same request_id.
  // The queue's errors (RESOURCE_EXHAUSTED when full) leave nothing recorded.
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
  // The terminal transition. `metrics` may be null (the edit ended before it was verified); `previous` holds
  // the tensors a COMMITTED edit replaced.
  void Finish(const std::string& id, muke::v1::EditState state, const std::string& error,
              const muke::v1::EditMetrics* metrics, TensorMap previous = {});
  // The tensors the COMMITTED edit `id` replaced, when it is the newest edit still applied; FAILED_PRECONDITION
  // naming the newer one otherwise (rollbacks go newest first) or when `id` is not COMMITTED; NOT_FOUND.
  absl::StatusOr<TensorMap> RollbackWeights(const std::string& id) const;
  // COMMITTED → ROLLED_BACK, after the worker has put RollbackWeights back.
  muke::v1::Edit MarkRolledBack(const std::string& id);
  // Ends every edit still QUEUED as CANCELLED with `reason` (shutdown).
  void CancelQueued(const std::string& reason);

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
  Record* Find(const std::string& id);
  const Record* Find(const std::string& id) const;
  std::string NewId();

  EditQueue& queue_;
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;  // notified on every new event
  std::map<std::string, Record> records_;
  std::vector<std::string> applied_;  // COMMITTED edits still served, oldest first
  std::vector<std::string> order_;  // ids, oldest first
  std::map<std::string, std::string> by_request_id_;
  std::mt19937_64 random_{std::random_device{}()};
};

}  // namespace muke::server
