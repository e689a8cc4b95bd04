// Cumulative GIL totals (GW_FRAME_GIL_TOTALS) turned into the increments the store adds to
// its histograms and counters. The sender counts every hold and wait in the process, so
// these are exact whatever ranges were dropped; see docs/protocol.md ("Exact GIL totals")
// for how a reconnection restates them.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "../protocol/gilwatch_protocol.h"
#include "gil_metrics.h"

namespace gilwatch {

static_assert(GW_DURATION_BUCKETS == kDurationBuckets, "the wire's histogram buckets are the metrics' buckets");

// What `now` adds to `before`, field by field. Counts never go back: a smaller value (a
// hostile or corrupt sender) adds nothing. The longest hold is a maximum, not a sum.
inline gw_gil_totals increase(const gw_gil_totals &before, const gw_gil_totals &now) {
  auto up = [](uint64_t a, uint64_t b) { return b > a ? b - a : 0; };
  gw_gil_totals d{};
  d.interp = now.interp;
  d.holds = up(before.holds, now.holds);
  d.contended_holds = up(before.contended_holds, now.contended_holds);
  d.hold_ns = up(before.hold_ns, now.hold_ns);
  d.waits = up(before.waits, now.waits);
  d.wait_ns = up(before.wait_ns, now.wait_ns);
  d.drop_requests = up(before.drop_requests, now.drop_requests);
  for (size_t b = 0; b <= GW_DURATION_BUCKETS; b++) {
    d.hold_buckets[b] = up(before.hold_buckets[b], now.hold_buckets[b]);
    d.wait_buckets[b] = up(before.wait_buckets[b], now.wait_buckets[b]);
  }
  if (now.longest_hold_ns > before.longest_hold_ns) {
    d.longest_hold_ns = now.longest_hold_ns;
    d.longest_hold_start_ns = now.longest_hold_start_ns;
  }
  if (now.longest_wait_ns > before.longest_wait_ns) d.longest_wait_ns = now.longest_wait_ns;
  return d;
}

// `into` += `d` (the longest hold as a maximum).
inline void accumulate(gw_gil_totals &into, const gw_gil_totals &d) {
  into.holds += d.holds;
  into.contended_holds += d.contended_holds;
  into.hold_ns += d.hold_ns;
  into.waits += d.waits;
  into.wait_ns += d.wait_ns;
  into.drop_requests += d.drop_requests;
  for (size_t b = 0; b <= GW_DURATION_BUCKETS; b++) {
    into.hold_buckets[b] += d.hold_buckets[b];
    into.wait_buckets[b] += d.wait_buckets[b];
  }
  if (d.longest_hold_ns > into.longest_hold_ns) {
    into.longest_hold_ns = d.longest_hold_ns;
    into.longest_hold_start_ns = d.longest_hold_start_ns;
  }
  into.longest_wait_ns = std::max(into.longest_wait_ns, d.longest_wait_ns);
}

// A histogram's share of an increase: bucket counts, count and sum; the maximum only grows.
inline void addTo(DurationHistogram &h, const uint64_t *buckets, uint64_t count, uint64_t sumNs, uint64_t maxNs) {
  for (size_t b = 0; b <= kDurationBuckets; b++) h.counts[b] += buckets[b];
  h.count += count;
  h.sumNs += sumNs;
  h.maxNs = std::max(h.maxNs, maxNs);
}

} // namespace gilwatch
