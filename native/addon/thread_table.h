// The dashboard's thread table over a chosen range of a process's run, as plain data: each
// thread's hold and wait time, acquisitions and longest hold within the range, summed from
// its history (ThreadHistory: the process's own totals, placed at the tick they came in).
#pragma once

#include <cstdint>
#include <vector>

#include "store.h"

namespace gilwatch {

struct ThreadTableRow {
  const Thread *thread; // nullptr: the threads the store forgot (exited a while ago), together
  ThreadSample sum;
};

struct ThreadTable {
  uint64_t fromNs = 0, toNs = 0;    // what the sums cover: whole slots, within the process's life
  uint64_t widthS = 0;              // the tier's slot
  size_t total = 0;                 // rows with a hold or a wait in the range
  std::vector<ThreadTableRow> rows; // the `limit` that held the GIL longest, most first
};

// [fromNs, toNs) of the process's clock (toNs at most clientNow), from the finest tier whose
// window still has fromNs (a retired process has only its coarsest).
ThreadTable computeThreadTable(const Process &p, uint64_t clientNow, uint64_t fromNs, uint64_t toNs, size_t limit);

} // namespace gilwatch
