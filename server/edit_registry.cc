#include "server/edit_registry.h"

#include <utility>

#include <google/protobuf/util/time_util.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/util/status.h"

namespace muke::server {
namespace {

using google::protobuf::util::TimeUtil;
using muke::v1::EditState;

absl::Status NotFound(const std::string& id) { return absl::NotFoundError(absl::StrCat("edit '", id, "' not found")); }

}  // namespace

bool IsTerminal(EditState state) {
  return state == muke::v1::EDIT_STATE_COMMITTED || state == muke::v1::EDIT_STATE_FAILED ||
         state == muke::v1::EDIT_STATE_CANCELLED || state == muke::v1::EDIT_STATE_ROLLED_BACK;
}

EditRegistry::EditRegistry(EditQueue& queue) : queue_(queue) {}

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

absl::StatusOr<muke::v1::Edit> EditRegistry::Submit(const muke::v1::EditKnowledgeRequest& request, EditPlan plan) {
  std::lock_guard lock(mu_);
  if (!request.request_id().empty()) {
    const auto it = by_request_id_.find(request.request_id());
    if (it != by_request_id_.end()) return records_.at(it->second).edit;
  }
  const std::string id = NewId();
  MUKE_RETURN_IF_ERROR(queue_.Push(id));
  Record& record = records_[id];
  record.plan = std::move(plan);
  record.edit.set_id(id);
  record.edit.set_request_id(request.request_id());
  *record.edit.mutable_request() = request;
  *record.edit.mutable_create_time() = TimeUtil::GetCurrentTime();
  Transition(record, muke::v1::EDIT_STATE_QUEUED);
  order_.push_back(id);
  if (!request.request_id().empty()) by_request_id_[request.request_id()] = id;
  return record.edit;
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
  if (!record || record->edit.state() != muke::v1::EDIT_STATE_QUEUED) return std::nullopt;
  Transition(*record, muke::v1::EDIT_STATE_RUNNING);
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

muke::v1::Edit EditRegistry::MarkRolledBack(const std::string& id) {
  std::lock_guard lock(mu_);
  Record* record = Find(id);
  applied_.pop_back();
  record->previous_weights.clear();
  Transition(*record, muke::v1::EDIT_STATE_ROLLED_BACK);
  return record->edit;
}

void EditRegistry::CancelQueued(const std::string& reason) {
  std::lock_guard lock(mu_);
  for (auto& [id, record] : records_) {
    if (record.edit.state() != muke::v1::EDIT_STATE_QUEUED) continue;
    queue_.Remove(id);
    record.edit.set_error(reason);
    Transition(record, muke::v1::EDIT_STATE_CANCELLED);
  }
}

}  // namespace muke::server
