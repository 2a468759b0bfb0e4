// The bounded FIFO of queued edit ids between the gRPC handlers and the edit worker. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/status.h"

namespace muke::server {

class EditQueue {
 public:
  explicit EditQueue(size_t capacity);

  // RESOURCE_EXHAUSTED (naming the limit) when full, unless `beyond_capacity` (edits re-queued at startup,
  // which were accepted before); UNAVAILABLE once closed.
  absl::Status Push(const std::string& id, bool beyond_capacity = false);
  size_t size() const;
  // Blocks until an id is queued (the oldest is returned) or the queue is closed (nullopt).
  std::optional<std::string> Pop();
  // Takes `id` out of the queue; false when it is not there.
  bool Remove(const std::string& id);
  // Wakes Pop for good (it returns nullopt from then on, even with ids left) and refuses every later Push.
  void Close();

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable ready_;
  std::deque<std::string> ids_;
  bool closed_ = false;
};

}  // namespace muke::server
