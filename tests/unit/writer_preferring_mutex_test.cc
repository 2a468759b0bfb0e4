// WriterPreferringMutex: shared holders coexist, an exclusive holder excludes everyone, and — the reason it
// exists — once a writer waits, new readers queue behind it instead of starving it.
#include <atomic>
#include <chrono>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include <gtest/gtest.h>

#include "server/writer_preferring_mutex.h"

namespace muke::server {
namespace {

TEST(WriterPreferringMutexTest, ReadersShareWritersExclude) {
  WriterPreferringMutex mutex;
  {
    std::shared_lock first(mutex);
    EXPECT_TRUE(mutex.try_lock_shared());
    mutex.unlock_shared();
    EXPECT_FALSE(mutex.try_lock());
  }
  std::unique_lock writer(mutex);
  EXPECT_FALSE(mutex.try_lock_shared());
  EXPECT_FALSE(mutex.try_lock());
}

TEST(WriterPreferringMutexTest, AWaitingWriterGoesBeforeNewReaders) {
  WriterPreferringMutex mutex;
  std::shared_lock reader(mutex);
  std::atomic<bool> written{false};
  std::thread writer([&] {
    std::unique_lock lock(mutex);
    written = true;
  });
  // Until the writer blocks in lock(), a new reader still gets in; once it waits, none does.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool refused = false;
  while (!refused && std::chrono::steady_clock::now() < deadline) {
    if (mutex.try_lock_shared()) {
      mutex.unlock_shared();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    } else {
      refused = true;
    }
  }
  EXPECT_TRUE(refused) << "new readers kept getting in ahead of the waiting writer";
  EXPECT_FALSE(written);
  reader.unlock();
  writer.join();
  EXPECT_TRUE(written);
  EXPECT_TRUE(mutex.try_lock_shared());
  mutex.unlock_shared();
}

}  // namespace
}  // namespace muke::server
