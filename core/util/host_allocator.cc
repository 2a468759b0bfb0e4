#include "core/util/host_allocator.h"

#include <malloc.h>

#include <mutex>

namespace muke {

void TuneHostAllocator() {
  static std::once_flag once;
  std::call_once(once, [] {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);  // the largest value glibc accepts on 64-bit
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
  });
}

}  // namespace muke
