// A reader/writer lock that admits a waiting writer before new readers (glibc's
// PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP). std::shared_mutex prefers readers, so with clients generating
// back to back an edit's swap could wait for minutes; here it waits only for the generations already running.
// Usable with std::shared_lock / std::unique_lock. A thread must not take the shared side twice: with a writer
// waiting in between, the second acquisition would wait for the writer, which waits for the first.
#pragma once

#include <pthread.h>

namespace muke::server {

class WriterPreferringMutex {
 public:
  WriterPreferringMutex();
  ~WriterPreferringMutex();
  WriterPreferringMutex(const WriterPreferringMutex&) = delete;
  WriterPreferringMutex& operator=(const WriterPreferringMutex&) = delete;

  void lock();
  bool try_lock();
  void unlock();
  void lock_shared();
  bool try_lock_shared();
  void unlock_shared();

 private:
  pthread_rwlock_t rwlock_;
};

}  // namespace muke::server
