#include "server/edit_queue.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace muke::server {

EditQueue::EditQueue(size_t capacity) : capacity_(capacity) {}

absl::Status EditQueue::Push(const std::string& id, bool beyond_capacity) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return absl::UnavailableError("the server is shutting down and accepts no edits");
    if (!beyond_capacity && ids_.size() >= capacity_) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the edit queue is full (limit ", capacity_, " queued edits); retry later"));
    }
    ids_.push_back(id);
  }
  ready_.notify_one();
  return absl::OkStatus();
}

size_t EditQueue::size() const {
  std::lock_guard lock(mu_);
  return ids_.size();
}

std::optional<std::string> EditQueue::Pop() {
  std::unique_lock lock(mu_);
  ready_.wait(lock, [&] { return closed_ || !ids_.empty(); });
  if (closed_) return std::nullopt;
  std::string id = std::move(ids_.front());
  ids_.pop_front();
  return id;
}

bool EditQueue::Remove(const std::string& id) {
  std::lock_guard lock(mu_);
  const auto it = std::find(ids_.begin(), ids_.end(), id);
  if (it == ids_.end()) return false;
  ids_.erase(it);
  return true;
}

void EditQueue::Close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  ready_.notify_all();
}

}  // namespace muke::server
