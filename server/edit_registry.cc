#include "server/edit_registry.h"

#include <utility>

#include <google/protobuf/util/time_util.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/util/log.h"
#include "core/util/status.h"

namespace muke::server {
namespace {

using google::protobuf::util::TimeUtil;
using muke::v1::EditState;

double SecondsSince(const google::protobuf::Timestamp& time) {
  return TimeUtil::DurationToNanoseconds(TimeUtil::GetCurrentTime() - time) / 1e9;
}

absl::Status NotFound(const std::string& id) { return absl::NotFoundError(absl::StrCat("edit '", id, "' not found")); }

}  // namespace

bool IsTerminal(EditState state) {
  return state == muke::v1::EDIT_STATE_COMMITTED || state == muke::v1::EDIT_STATE_FAILED ||
         state == muke::v1::EDIT_STATE_CANCELLED || state == muke::v1::EDIT_STATE_ROLLED_BACK;
}

EditRegistry::EditRegistry(EditQueue& queue, EditJournal* journal, ServerMetrics& metrics)
    : queue_(queue), journal_(journal), metrics_(metrics) {}

EditRegistry::Record* EditRegistry::Find(const std::string& id) {
  const auto it = records_.find(id);
  return it == records_.end() ? nullptr : &it->second;
}

const EditRegistry::Record* EditRegistry::Find(const std::string& id) const {
  const auto it = records_.find(id);
  return it == records_.end() ? nullptr : &it->second;
}

std::string EditRegistry::NewId() {
  std::string id;
  do {
    id = absl::StrFormat("%016x", random_());
  } while (records_.count(id));
  return id;
}

void EditRegistry::Transition(Record& record, EditState state) {
  record.edit.set_state(state);
  *record.edit.mutable_update_time() = TimeUtil::GetCurrentTime();
  muke::v1::EditEvent& event = record.events.emplace_back();
  event.set_state(state);
  *event.mutable_time() = record.edit.update_time();
  *event.mutable_edit() = record.edit;
  changed_.notify_all();
}

absl::Status EditRegistry::Journal(const Record& record) {
  if (!journal_) return absl::OkStatus();
  JournalRecord entry;
  *entry.mutable_edit() = record.edit;
  return Journaled(journal_->Append(entry));
}

void EditRegistry::JournalEnd(const Record& record) {
  if (absl::Status journaled = Journal(record); !journaled.ok()) {
    // The edit changed nothing; the next start re-queues it and it runs again.
    Log(LogLevel::kError, "journal_write_failed",
        {{"id", record.edit.id()}, {"error", std::string(journaled.message())}});
  }
}

absl::Status EditRegistry::Journaled(absl::Status status) {
  if (!status.ok()) {
    metrics_.JournalError("write");
    return status;
  }
  metrics_.JournalRecordWritten();
  metrics_.SetJournalBytes(journal_->size_bytes());
  return status;
}

absl::StatusOr<muke::v1::Edit> EditRegistry::Submit(const muke::v1::EditKnowledgeRequest& request, EditPlan plan) {
  std::lock_guard lock(mu_);
  if (!request.request_id().empty()) {
    const auto it = by_request_id_.find(request.request_id());
    if (it != by_request_id_.end()) return records_.at(it->second).edit;
  }
  Record record;
  record.plan = std::move(plan);
  record.edit.set_id(NewId());
  record.edit.set_request_id(request.request_id());
  *record.edit.mutable_request() = request;
  *record.edit.mutable_create_time() = TimeUtil::GetCurrentTime();
  Transition(record, muke::v1::EDIT_STATE_QUEUED);
  const std::string id = record.edit.id();
  MUKE_RETURN_IF_ERROR(queue_.Push(id));
  // The worker cannot start the edit before it is recorded: Start waits for mu_, and finds no record when the
  // journal write failed.
  if (absl::Status journaled = Journal(record); !journaled.ok()) {
    queue_.Remove(id);
    return absl::UnavailableError(absl::StrCat("the edit could not be journaled: ", journaled.message()));
  }
  const muke::v1::Edit& edit = (records_[id] = std::move(record)).edit;
  metrics_.EditAccepted();
  metrics_.SetQueueDepth(queue_.size());
  order_.push_back(id);
  if (!request.request_id().empty()) by_request_id_[request.request_id()] = id;
  return edit;
}

absl::StatusOr<muke::v1::Edit> EditRegistry::Get(const std::string& id) const {
  std::lock_guard lock(mu_);
  const Record* record = Find(id);
  if (!record) return NotFound(id);
  return record->edit;
}

absl::StatusOr<muke::v1::ListEditsResponse> EditRegistry::List(int page_size, const std::string& page_token) const {
  if (page_size < 0 || page_size > kMaxPageSize) {
    return absl::InvalidArgumentError(absl::StrCat("page_size: must be in [0, ", kMaxPageSize, "], got ", page_size));
  }
  if (page_size == 0) page_size = kDefaultPageSize;
  std::lock_guard lock(mu_);
  // The token is the position (in creation order) of the next, older edit to list.
  size_t end = order_.size();
  if (!page_token.empty() && (!absl::SimpleAtoi(page_token, &end) || end == 0 || end > order_.size())) {
    return absl::InvalidArgumentError("page_token: not a token from ListEdits of this server");
  }
  muke::v1::ListEditsResponse response;
  while (end > 0 && response.edits_size() < page_size) *response.add_edits() = records_.at(order_[--end]).edit;
  if (end > 0) response.set_next_page_token(std::to_string(end));
  return response;
}

absl::StatusOr<muke::v1::Edit> EditRegistry::Cancel(const std::string& id) {
  std::lock_guard lock(mu_);
  Record* record = Find(id);
  if (!record) return NotFound(id);
  const EditState state = record->edit.state();
  if (IsTerminal(state)) {
    return absl::FailedPreconditionError(absl::StrCat("edit '", id, "' has already ended (",
                                                      muke::v1::EditState_Name(state), ")"));
  }
  if (state == muke::v1::EDIT_STATE_QUEUED && queue_.Remove(id)) {
    record->edit.set_error("cancelled while queued");
    Transition(*record, muke::v1::EDIT_STATE_CANCELLED);
    JournalEnd(*record);
    metrics_.QueuedEditCancelled(SecondsSince(record->edit.create_time()));
    metrics_.SetQueueDepth(queue_.size());
  } else {
    // Running, or popped by the worker and about to start: the worker sees the flag.
    record->cancel->store(true);
  }
  return record->edit;
}

absl::StatusOr<std::vector<muke::v1::EditEvent>> EditRegistry::Events(const std::string& id, size_t from,
                                                                       std::chrono::milliseconds wait) const {
  std::unique_lock lock(mu_);
  const Record* record = Find(id);
  if (!record) return NotFound(id);
  changed_.wait_for(lock, wait, [&] { return record->events.size() > from; });
  if (record->events.size() <= from) return std::vector<muke::v1::EditEvent>();
  return std::vector<muke::v1::EditEvent>(record->events.begin() + from, record->events.end());
}

std::optional<EditRegistry::Job> EditRegistry::Start(const std::string& id) {
  std::lock_guard lock(mu_);
  Record* record = Find(id);
  metrics_.SetQueueDepth(queue_.size());
  if (!record || record->edit.state() != muke::v1::EDIT_STATE_QUEUED) return std::nullopt;
  Transition(*record, muke::v1::EDIT_STATE_RUNNING);
  metrics_.EditStarted();
  return Job{id, record->plan, record->cancel};
}

void EditRegistry::Advance(const std::string& id, EditState state) {
  std::lock_guard lock(mu_);
  if (Record* record = Find(id)) Transition(*record, state);
}

void EditRegistry::Step(const std::string& id, const muke::v1::EditStep& step) {
  std::lock_guard lock(mu_);
  Record* record = Find(id);
  if (!record) return;
  muke::v1::EditEvent& event = record->events.emplace_back();
  event.set_state(record->edit.state());
  *event.mutable_time() = TimeUtil::GetCurrentTime();
  *event.mutable_step() = step;
  changed_.notify_all();
}

void EditRegistry::Finish(const std::string& id, EditState state, const std::string& error,
                          const muke::v1::EditMetrics* metrics, TensorMap previous) {
  std::lock_guard lock(mu_);
  Record* record = Find(id);
  if (!record) return;
  record->edit.set_error(error);
  if (metrics) *record->edit.mutable_metrics() = *metrics;
  record->previous_weights = std::move(previous);
  if (state == muke::v1::EDIT_STATE_COMMITTED) applied_.push_back(id);
  Transition(*record, state);
  metrics_.EditFinished(state, SecondsSince(record->edit.create_time()), metrics);
  if (state != muke::v1::EDIT_STATE_COMMITTED) JournalEnd(*record);
}

absl::Status EditRegistry::JournalCommit(const std::string& id, const muke::v1::EditMetrics& metrics,
                                         const TensorMap& new_weights) {
  if (!journal_) return absl::OkStatus();
  muke::v1::Edit committed;
  {
    std::lock_guard lock(mu_);
    const Record* record = Find(id);
    if (!record) return NotFound(id);
    committed = record->edit;
  }
  committed.set_state(muke::v1::EDIT_STATE_COMMITTED);
  *committed.mutable_update_time() = TimeUtil::GetCurrentTime();
  *committed.mutable_metrics() = metrics;
  // Outside mu_: writing the weights can take seconds for a large model.
  return Journaled(journal_->AppendCommit(committed, new_weights));
}

void EditRegistry::Interrupt(const std::string& id, const std::string& reason) {
  std::lock_guard lock(mu_);
  Record* record = Find(id);
  if (!record) return;
  record->edit.set_error(reason);
  Transition(*record, muke::v1::EDIT_STATE_CANCELLED);
  metrics_.EditFinished(muke::v1::EDIT_STATE_CANCELLED, SecondsSince(record->edit.create_time()), nullptr);
}

absl::StatusOr<TensorMap> EditRegistry::RollbackWeights(const std::string& id) const {
  std::lock_guard lock(mu_);
  const Record* record = Find(id);
  if (!record) return absl::NotFoundError(absl::StrCat("edit '", id, "' not found"));
  if (record->edit.state() != muke::v1::EDIT_STATE_COMMITTED) {
    return absl::FailedPreconditionError(absl::StrCat("edit '", id, "' is ",
                                                      muke::v1::EditState_Name(record->edit.state()),
                                                      "; only COMMITTED edits can be rolled back"));
  }
  if (applied_.empty() || applied_.back() != id) {
    return absl::FailedPreconditionError(absl::StrCat("edit '", applied_.back(),
                                                      "' was committed later: roll it back first"));
  }
  return record->previous_weights;
}

std::vector<muke::v1::Edit> EditRegistry::Applied() const {
  std::lock_guard lock(mu_);
  std::vector<muke::v1::Edit> edits;
  for (const std::string& id : applied_) edits.push_back(records_.at(id).edit);
  return edits;
}

absl::Status EditRegistry::JournalRollback(const std::string& id) {
  std::lock_guard lock(mu_);
  const Record* record = Find(id);
  if (!record) return NotFound(id);
  Record rolled_back;
  rolled_back.edit = record->edit;
  rolled_back.edit.set_state(muke::v1::EDIT_STATE_ROLLED_BACK);
  *rolled_back.edit.mutable_update_time() = TimeUtil::GetCurrentTime();
  return Journal(rolled_back);
}

muke::v1::Edit EditRegistry::MarkRolledBack(const std::string& id) {
  std::lock_guard lock(mu_);
  Record* record = Find(id);
  applied_.pop_back();
  record->previous_weights.clear();
  Transition(*record, muke::v1::EDIT_STATE_ROLLED_BACK);
  metrics_.EditRolledBack();
  return record->edit;
}

void EditRegistry::CancelQueued(const std::string& reason) {
  std::lock_guard lock(mu_);
  for (auto& [id, record] : records_) {
    if (record.edit.state() != muke::v1::EDIT_STATE_QUEUED) continue;
    queue_.Remove(id);
    record.edit.set_error(reason);
    Transition(record, muke::v1::EDIT_STATE_CANCELLED);
    metrics_.QueuedEditCancelled(SecondsSince(record.edit.create_time()));
  }
  metrics_.SetQueueDepth(queue_.size());
}

EditRegistry::Record& EditRegistry::Insert(const std::vector<muke::v1::Edit>& history) {
  const muke::v1::Edit& edit = history.back();
  Record& record = records_[edit.id()];
  record.edit = edit;
  for (const muke::v1::Edit& snapshot : history) {
    muke::v1::EditEvent& event = record.events.emplace_back();
    event.set_state(snapshot.state());
    *event.mutable_time() = snapshot.update_time();
    *event.mutable_edit() = snapshot;
  }
  order_.push_back(edit.id());
  if (!edit.request_id().empty()) by_request_id_[edit.request_id()] = edit.id();
  return record;
}

void EditRegistry::Restore(const std::vector<muke::v1::Edit>& history, TensorMap previous) {
  std::lock_guard lock(mu_);
  Record& record = Insert(history);
  if (record.edit.state() == muke::v1::EDIT_STATE_COMMITTED) applied_.push_back(record.edit.id());
  record.previous_weights = std::move(previous);
}

void EditRegistry::Requeue(const std::vector<muke::v1::Edit>& history, absl::StatusOr<EditPlan> plan) {
  std::lock_guard lock(mu_);
  Record& record = Insert(history);
  if (plan.ok()) record.plan = *std::move(plan);
  absl::Status status = plan.status();
  if (status.ok()) status = queue_.Push(record.edit.id(), /*beyond_capacity=*/true);
  if (status.ok()) {
    // A QUEUED event noting the restart (the edit may have been running when the server stopped).
    record.edit.set_error("");
    Transition(record, muke::v1::EDIT_STATE_QUEUED);
    metrics_.SetQueueDepth(queue_.size());
    return;
  }
  record.edit.set_error(absl::StrCat("could not be re-queued after a restart: ", status.message()));
  Transition(record, muke::v1::EDIT_STATE_FAILED);
  JournalEnd(record);
}

}  // namespace muke::server
