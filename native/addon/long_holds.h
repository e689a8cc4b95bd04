// The latest GIL holds of one process above a threshold, and who waited during each, as
// plain data (process_views.cc turns it into JavaScript; store_units.cc checks it).
#pragma once

#include <cstdint>
#include <vector>

#include "store.h"

namespace gilwatch {

struct HoldWaiter {
  const Thread *thread;
  uint64_t waitedNs; // of its GIL waits, the time that overlaps the hold
};

struct LongHold {
  const Thread *thread;
  uint64_t startNs, endNs; // endNs: the process's now while it goes on
  bool ongoing;
  int64_t interp;
  std::vector<HoldWaiter> waiters; // every other thread that waited meanwhile
  const HoldCause *cause;          // nullptr: none known
};

// Of thread `t`'s GIL waits, the time within [startNs, endNs] (open ones up to clientNow).
uint64_t waitedDuring(const NativeStore &store, const Thread &t, uint64_t startNs, uint64_t endNs, uint64_t clientNow);

// Newest first, at most `limit`; holds of at least thresholdNs, finished or still open.
std::vector<LongHold> computeLongHolds(const NativeStore &store, const Process &p, uint64_t clientNow,
                                       double thresholdNs, uint32_t limit);

} // namespace gilwatch
