#include "server/writer_preferring_mutex.h"

#include <cstdlib>

namespace muke::server {
namespace {

// The pthread calls fail only on misuse (unlocking a lock not held, deadlock detection): a bug, not an error.
void Check(int result) {
  if (result != 0) std::abort();
}

}  // namespace

WriterPreferringMutex::WriterPreferringMutex() {
  pthread_rwlockattr_t attributes;
  Check(pthread_rwlockattr_init(&attributes));
  Check(pthread_rwlockattr_setkind_np(&attributes, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP));
  Check(pthread_rwlock_init(&rwlock_, &attributes));
  pthread_rwlockattr_destroy(&attributes);
}

WriterPreferringMutex::~WriterPreferringMutex() { pthread_rwlock_destroy(&rwlock_); }

void WriterPreferringMutex::lock() { Check(pthread_rwlock_wrlock(&rwlock_)); }
bool WriterPreferringMutex::try_lock() { return pthread_rwlock_trywrlock(&rwlock_) == 0; }
void WriterPreferringMutex::unlock() { Check(pthread_rwlock_unlock(&rwlock_)); }
void WriterPreferringMutex::lock_shared() { Check(pthread_rwlock_rdlock(&rwlock_)); }
bool WriterPreferringMutex::try_lock_shared() { return pthread_rwlock_tryrdlock(&rwlock_) == 0; }
void WriterPreferringMutex::unlock_shared() { Check(pthread_rwlock_unlock(&rwlock_)); }

}  // namespace muke::server
