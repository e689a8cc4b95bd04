// A process's worst GIL holds over its whole run: the longest kWorstHolds, each settled
// kWorstSettleNs after it ended with its waiters, its cause and a snapshot of every thread's
// timeline around it. The per-thread rings keep the latest ranges only; a soak's worst moment
// must not be pushed out by the thousands of shorter holds after it.
//
// Memory: at most kWorstHolds per process, each its kWorstWaiters longest waiters (with their
// names, at most 256 bytes each, so under 10 KB); the kWorstTimelines longest with a
// snapshot of at most kWorstSnapshotItems items (48 bytes each) in kWorstSnapshotLanes lanes
// (with their names): under 220 KB each. So about 3 MB for a process at the worst; a few KB
// a hold is typical.
#include <algorithm>
#include <functional>

#include "long_holds.h"
#include "store.h"

#include "services.h"
#include "timeline.h"

namespace gilwatch {

void NativeStore::considerWorstHold(Process &process, const Thread &thread, const OpenRange &range, uint64_t endNs) {
  if (endNs <= range.startNs) return; // a sender's nonsense, not a hold
  uint64_t duration = endNs - range.startNs;
  if (duration < kSignificantNs) return;
  std::vector<WorstHold> &worst = process.worstHolds;
  if (worst.size() >= kWorstHolds) {
    if (duration <= process.worstShortestNs) return; // the common case: one comparison
    auto shortest = std::min_element(worst.begin(), worst.end(), [](const WorstHold &a, const WorstHold &b) {
      return a.endNs - a.startNs < b.endNs - b.startNs;
    });
    if (!shortest->settled) process.worstUnsettled--;
    worst.erase(shortest);
  }
  WorstHold hold;
  hold.id = ++process.worstSeen;
  hold.thread = thread.id;
  hold.tid = thread.tid;
  hold.name = thread.name;
  hold.startNs = range.startNs;
  hold.endNs = endNs;
  hold.interp = gw_interp_of(range.payloadType, range.payload);
  worst.push_back(std::move(hold));
  process.worstUnsettled++;
  if (worst.size() >= kWorstHolds) {
    uint64_t shortest = UINT64_MAX;
    for (const WorstHold &h : worst) shortest = std::min(shortest, h.endNs - h.startNs);
    process.worstShortestNs = shortest;
  }
}

// The snapshot: at a pixel width that gives about kWorstSnapshotPixels across the window,
// wider until it fits kWorstSnapshotItems items; at most kWorstSnapshotLanes lanes: the
// holder's, its waiters' (longest wait first), then the other threads'.
static std::shared_ptr<const Timeline> snapshotAround(const NativeStore &store, const Process &p, const WorstHold &hold,
                                                      uint64_t clientNowNs) {
  double from = static_cast<double>(hold.startNs > kWorstMarginNs ? hold.startNs - kWorstMarginNs : 0);
  double to = static_cast<double>(hold.endNs + kWorstMarginNs);
  double pxNs = (to - from) / kWorstSnapshotPixels;
  auto rank = [&](const TimelineLane &lane) -> size_t {
    if (lane.thread == hold.thread) return 0;
    for (size_t w = 0; w < hold.waiters.size(); w++)
      if (hold.waiters[w].thread == lane.thread) return 1 + w;
    return SIZE_MAX;
  };
  for (int attempt = 0;; attempt++, pxNs *= 4) {
    auto timeline = std::make_shared<Timeline>(computeTimeline(store, p, clientNowNs, from, to, pxNs));
    std::stable_sort(timeline->lanes.begin(), timeline->lanes.end(),
                     [&](const TimelineLane &a, const TimelineLane &b) { return rank(a) < rank(b); });
    if (timeline->lanes.size() > kWorstSnapshotLanes) {
      timeline->lanesOmitted = timeline->lanes.size() - kWorstSnapshotLanes;
      timeline->lanes.resize(kWorstSnapshotLanes);
    }
    size_t items = 0;
    for (const TimelineLane &lane : timeline->lanes) items += lane.items.size();
    if (items <= kWorstSnapshotItems) return timeline;
    if (attempt == 3) { // still too many: the last lanes go, the holder's stays
      size_t kept = 0, total = 0;
      while (kept < timeline->lanes.size() &&
             (kept == 0 || total + timeline->lanes[kept].items.size() <= kWorstSnapshotItems))
        total += timeline->lanes[kept++].items.size();
      timeline->lanesOmitted += timeline->lanes.size() - kept;
      timeline->lanes.resize(kept);
      return timeline;
    }
  }
}

void NativeStore::settleWorstHolds(Process &process, uint64_t clientNowNs, bool all) {
  if (!process.worstUnsettled) return;
  for (WorstHold &hold : process.worstHolds) {
    if (hold.settled || (!all && hold.endNs + kWorstSettleNs > clientNowNs)) continue;
    for (const auto &[id, t] : process.threads) {
      if (id == hold.thread) continue;
      uint64_t waited = waitedDuring(*this, *t, hold.startNs, hold.endNs, clientNowNs);
      if (waited) hold.waiters.push_back(WorstHold::Waiter{t->id, t->name, waited});
    }
    std::sort(hold.waiters.begin(), hold.waiters.end(),
              [](const WorstHold::Waiter &a, const WorstHold::Waiter &b) { return a.waitedNs > b.waitedNs; });
    if (hold.waiters.size() > kWorstWaiters) {
      hold.waitersOmitted = static_cast<uint32_t>(hold.waiters.size() - kWorstWaiters);
      hold.waiters.resize(kWorstWaiters);
    }
    auto holder = process.threads.find(hold.thread);
    const HoldCause *cause = holder == process.threads.end() ? nullptr : holder->second->causeOf(hold.startNs);
    if (cause) {
      hold.hasCause = true;
      hold.cause = *cause;
    }
    // A timeline for the kWorstTimelines longest only: the one it would push out goes.
    auto duration = [](const WorstHold &h) { return h.endNs - h.startNs; };
    size_t longer = 0;
    WorstHold *shortestWith = nullptr;
    for (WorstHold &other : process.worstHolds) {
      if (!other.snapshot) continue;
      if (duration(other) >= duration(hold)) longer++;
      if (!shortestWith || duration(other) < duration(*shortestWith)) shortestWith = &other;
    }
    if (longer < kWorstTimelines) {
      hold.snapshot = snapshotAround(*this, process, hold, clientNowNs);
      hold.snapshotNowNs = clientNowNs;
      size_t with = 0;
      for (const WorstHold &other : process.worstHolds) with += other.snapshot != nullptr;
      if (with > kWorstTimelines && shortestWith) shortestWith->snapshot.reset();
    }
    hold.settled = true;
    process.worstUnsettled--;
  }
}

void NativeStore::trimWorstHolds(Process &process) {
  std::vector<WorstHold> &worst = process.worstHolds;
  std::sort(worst.begin(), worst.end(),
            [](const WorstHold &a, const WorstHold &b) { return a.endNs - a.startNs > b.endNs - b.startNs; });
  // Its 10 longest stay, and any hold still among its service's kWorstHolds longest: the
  // service's worst holds outlive each run's retirement.
  std::vector<uint64_t> service;
  uint64_t id = serviceId(process);
  for (const auto &other : processes_)
    if (serviceId(*other) == id)
      for (const WorstHold &h : other->worstHolds) service.push_back(h.endNs - h.startNs);
  uint64_t serviceShortest = 0; // the service's kWorstHolds-th longest (0: it has fewer)
  if (service.size() >= kWorstHolds) {
    std::nth_element(service.begin(), service.begin() + (kWorstHolds - 1), service.end(), std::greater<uint64_t>());
    serviceShortest = service[kWorstHolds - 1];
  }
  size_t keep = std::min(worst.size(), kWorstKeptRetired);
  while (keep < worst.size() && worst[keep].endNs - worst[keep].startNs >= std::max<uint64_t>(serviceShortest, 1))
    keep++;
  worst.resize(keep);
  for (size_t i = kWorstTimelinesRetired; i < worst.size(); i++) worst[i].snapshot.reset();
  for (WorstHold &h : worst) {
    if (h.waiters.size() > kWorstWaitersRetired) {
      h.waitersOmitted += static_cast<uint32_t>(h.waiters.size() - kWorstWaitersRetired);
      h.waiters.resize(kWorstWaitersRetired);
    }
    h.waiters.shrink_to_fit();
  }
  process.worstUnsettled = 0;
  for (const WorstHold &h : worst) process.worstUnsettled += !h.settled;
  process.worstShortestNs = 0; // fewer than kWorstHolds now: none joins any more, it has ended
  worst.shrink_to_fit();
}

} // namespace gilwatch
