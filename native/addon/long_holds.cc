// Long holds come from each thread's exactly kept long ranges and its open ranges; their
// waiters from the others' waits that overlap them (long waits kept exactly, short ones while
// they are still in the raw ring).
#include "long_holds.h"

#include <algorithm>

namespace gilwatch {

uint64_t waitedDuring(const NativeStore &store, const Thread &t, uint64_t start, uint64_t end, uint64_t clientNow) {
  uint64_t waited = 0;
  auto overlap = [&](uint64_t s, uint64_t e) {
    uint64_t from = std::max(s, start), to = std::min(e, end);
    return to > from ? to - from : 0;
  };
  // Where the raw ring's coverage begins (entries are in end order): what ended before it
  // comes from the long ranges kept exactly, the rest from the ring, each wait once.
  uint64_t rawFrom = t.recent.pushed() > t.recent.size() && t.recent.size() ? t.recent.at(0).endNs : 0;
  for (size_t i = 0; i < t.significant.size(); i++) {
    const RecentRange &r = t.significant.at(i);
    if (r.domain == store.gilDomain() && r.message == store.waitingId() && r.endNs < rawFrom)
      waited += overlap(r.startNs, r.endNs);
  }
  for (size_t i = t.recent.size(); i-- > 0;) {
    const RecentRange &r = t.recent.at(i);
    if (r.endNs < start) break;
    if (r.kind == EventKind::Range && r.domain == store.gilDomain() && r.message == store.waitingId())
      waited += overlap(r.startNs, r.endNs);
  }
  for (const OpenRange &o : t.open)
    if (o.domain == store.gilDomain() && o.message == store.waitingId()) waited += overlap(o.startNs, clientNow);
  return waited;
}

std::vector<LongHold> computeLongHolds(const NativeStore &store, const Process &p, uint64_t clientNow,
                                       double thresholdNs, uint32_t limit) {
  std::vector<LongHold> holds;
  for (const auto &[id, t] : p.threads) {
    for (size_t i = 0; i < t->significant.size(); i++) {
      const RecentRange &r = t->significant.at(i);
      if (r.kind == EventKind::Range && r.domain == store.gilDomain() && r.message == store.holdingId() &&
          static_cast<double>(r.endNs - r.startNs) >= thresholdNs)
        holds.push_back(
            LongHold{t.get(), r.startNs, r.endNs, false, gw_interp_of(r.payloadType, r.payload), {}, nullptr});
    }
    for (const OpenRange &o : t->open) {
      if (o.domain == store.gilDomain() && o.message == store.holdingId() && clientNow > o.startNs &&
          static_cast<double>(clientNow - o.startNs) >= thresholdNs)
        holds.push_back(
            LongHold{t.get(), o.startNs, clientNow, true, gw_interp_of(o.payloadType, o.payload), {}, nullptr});
    }
  }
  std::sort(holds.begin(), holds.end(), [](const LongHold &a, const LongHold &b) { return a.startNs > b.startNs; });
  if (holds.size() > limit) holds.resize(limit);
  for (LongHold &hold : holds) {
    for (const auto &[id, t] : p.threads) {
      if (t.get() == hold.thread) continue;
      uint64_t waited = waitedDuring(store, *t, hold.startNs, hold.endNs, clientNow);
      if (waited) hold.waiters.push_back(HoldWaiter{t.get(), waited});
    }
    hold.cause = hold.thread->causeOf(hold.startNs);
  }
  return holds;
}

} // namespace gilwatch
