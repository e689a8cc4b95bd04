// GIL aggregation for the Prometheus metrics (docs/metrics.md): the ranges of domain
// "GIL NVTX Domain" folded into per-GIL histograms, per-thread totals and sliding-window
// maxima as they are decoded, so a scrape only reads sums. No per-event work in JS.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../protocol/gilwatch_protocol.h"

namespace gilwatch {

// The entry of GIL `interp` in a short per-GIL list (a process has few interpreters), added
// value-initialized when absent. Every per-GIL list of the store is found through this.
template <typename Entry>
Entry &entryOf(std::vector<Entry> &list, int64_t interp) {
  for (Entry &e : list)
    if (e.interp == interp) return e;
  list.emplace_back();
  list.back().interp = interp;
  return list.back();
}

// Upper bounds in ns (seconds in docs/metrics.md): 1 µs to 10 s, with 1, 5, 10, 50, 100,
// 200, 500 ms and 1 s among the edges. The wire's (GIL totals carry bucket counts).
constexpr std::array<uint64_t, GW_DURATION_BUCKETS> kDurationBucketsNs = GW_DURATION_BOUNDS_NS;
constexpr size_t kDurationBuckets = kDurationBucketsNs.size(); // +Inf is implicit

// Index of the first bucket whose bound is ≥ ns (kDurationBuckets: above them all): the
// protocol's own, so the server buckets ranges exactly as processes bucket their totals.
inline size_t durationBucket(uint64_t ns) { return gw_duration_bucket(ns); }

struct DurationHistogram {
  std::array<uint64_t, kDurationBuckets + 1> counts{}; // last: above the largest bound
  uint64_t count = 0;
  uint64_t sumNs = 0;
  uint64_t maxNs = 0;
  void add(uint64_t ns) { add(ns, durationBucket(ns)); }
  void add(uint64_t ns, size_t bucket) { // bucket = durationBucket(ns), when the caller has it
    counts[bucket]++;
    count++;
    sumNs += ns;
    if (ns > maxNs) maxNs = ns;
  }
};

// Longest value per time slot; the window max is the max over the last `slots` slots.
class WindowMax {
 public:
  static constexpr size_t kSlots = 60;
  void add(uint64_t slot, uint64_t value) {
    Entry &e = entries_[slot % kSlots];
    if (e.slot != slot) e = Entry{slot, 0};
    if (value > e.value) e.value = value;
  }
  uint64_t max(uint64_t nowSlot) const {
    uint64_t best = 0;
    for (const Entry &e : entries_)
      if (e.slot + kSlots > nowSlot && e.slot <= nowSlot && e.value > best) best = e.value;
    return best;
  }

 private:
  struct Entry {
    uint64_t slot = UINT64_MAX;
    uint64_t value = 0;
  };
  std::array<Entry, kSlots> entries_{};
};

// One thread's use of one GIL.
struct ThreadGil {
  int64_t interp = 0;
  uint64_t holdNs = 0;
  uint64_t waitNs = 0;
  uint64_t contended = 0;   // acquisitions after a wait
  uint64_t uncontended = 0; // acquisitions without one
  WindowMax holdMax;
};

// Long-hold time of one code site: the innermost Python frame of the holder, as
// "module:function" (python_gil_long_hold_seconds_total{site}).
struct LongHoldSite {
  std::string site;
  uint64_t ns[3] = {0, 0, 0}; // the whole holds' parts: on CPU, run queue, blocked
};

// What the server keeps of one GIL of a process (one per interpreter that owns one): its
// histograms (from the process's totals), long-hold sites and contention. Not to be confused
// with gw_gil_totals, one thread's counts on the wire.
struct GilAccount {
  int64_t interp = 0;
  DurationHistogram hold;
  DurationHistogram wait;
  uint64_t dropRequests = 0;
  // Long holds by site: the first MetricsOptions::maxSites sites get their own, later ones
  // add to the last entry, "other" (counters cannot move a site into "other" later).
  std::vector<LongHoldSite> longHoldSites{LongHoldSite{"other", {0, 0, 0}}};
  uint64_t contendedNs = 0;       // wall time with at least one waiter, the sender's count
  uint64_t senderContendedNs = 0; // the sender's cumulative count (GIL_STATE, the region), last seen
  uint32_t waitersNow = 0;        // threads waiting at the sender's last tick
};

// Thread label slots: the first `maxThreads` threads of a process that use the GIL get their
// own `thread` label; later ones fold into thread="other".
struct MetricsOptions {
  size_t maxThreads = 20;
  size_t maxRangeKeys = 20;                  // nvtx_range_duration_seconds: (domain, message) pairs
  size_t maxSites = 20;                      // python_gil_long_hold_seconds_total: sites per GIL, besides "other"
  uint64_t holdMaxWindowNs = 60'000'000'000; // python_gil_hold_max_seconds window
};

} // namespace gilwatch
