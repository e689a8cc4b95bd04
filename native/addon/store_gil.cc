// The GIL's numbers, all from the process's own counts: GIL_TOTALS (per thread, and the
// retired threads' sum), GIL_STATE, THREAD_FOLDED; which GILs (interpreters) a process may have.
#include "store.h"

#include "gil_totals.h"

namespace gilwatch {

int64_t NativeStore::admitInterp(Process &process, int64_t interp) {
  for (int64_t known : process.interps)
    if (known == interp) return interp;
  if (interp == kOtherInterp) return interp;
  if (process.interps.size() < options_.limits.gilsPerProcess) {
    process.interps.push_back(interp);
    return interp;
  }
  overflow(LimitKind::Gils);
  return kOtherInterp;
}

ThreadGil &NativeStore::threadGil(Process &process, Thread &thread, int64_t interp) {
  if (thread.slot == LabelSlot::Unassigned) {
    bool own = process.ownLabels < options_.metrics.maxThreads;
    thread.slot = own ? LabelSlot::Own : LabelSlot::Other;
    if (own) process.ownLabels++;
  }
  return entryOf(thread.slot == LabelSlot::Own ? thread.gil : process.otherThreads, interp);
}

// One thread's (or, with thread == nullptr, the retired threads') increase since its last
// totals, added everywhere the counts are read: the GIL's histograms, the thread's label
// (retired threads the server never saw end go to thread="other") and the run summary.
void NativeStore::addGilIncrease(Process &process, Thread *thread, const gw_gil_totals &d) {
  int64_t interp = admitInterp(process, d.interp);
  GilAccount &gil = process.gil(interp);
  addTo(gil.hold, d.hold_buckets, d.holds, d.hold_ns, d.longest_hold_ns);
  addTo(gil.wait, d.wait_buckets, d.waits, d.wait_ns, d.longest_wait_ns);
  gil.dropRequests += d.drop_requests;
  addToThreadHistory(process, thread, d);
  ThreadGil &mine = thread ? threadGil(process, *thread, interp) : entryOf(process.otherThreads, interp);
  mine.holdNs += d.hold_ns;
  mine.waitNs += d.wait_ns;
  mine.contended += d.contended_holds;
  mine.uncontended += d.holds > d.contended_holds ? d.holds - d.contended_holds : 0;
  if (!thread) return;
  addTo(thread->holds, d.hold_buckets, d.holds, d.hold_ns, d.longest_hold_ns);
  addTo(thread->waits, d.wait_buckets, d.waits, d.wait_ns, d.longest_wait_ns);
  if (d.longest_hold_ns > thread->longestHoldNs) {
    thread->longestHoldNs = d.longest_hold_ns;
    thread->longestHoldStartNs = d.longest_hold_start_ns;
  }
}

// The increase waits for the next STATUS, whose time it is placed at (placeThreadHistory); a
// new longest hold of the thread's life goes where it began.
void NativeStore::addToThreadHistory(Process &process, Thread *thread, const gw_gil_totals &d) {
  if (d.holds == 0 && d.waits == 0 && d.hold_ns == 0 && d.wait_ns == 0) return;
  addSample(thread ? thread->unplaced : process.unplacedUnlisted,
            ThreadSample{0, d.hold_ns, d.wait_ns, d.holds, d.waits, 0, 0});
  if (!thread) return;
  if (d.longest_hold_ns)
    thread->history.at(d.longest_hold_start_ns, [&](ThreadSample &s) {
      if (d.longest_hold_ns > s.longestHoldNs) {
        s.longestHoldNs = d.longest_hold_ns;
        s.longestHoldStartNs = d.longest_hold_start_ns;
      }
    });
  if (!thread->hasUnplaced) {
    thread->hasUnplaced = true;
    process.unplacedThreads.push_back(thread->id);
  }
}

void NativeStore::placeThreadHistory(Process &process, uint64_t clientNs) {
  for (uint32_t id : process.unplacedThreads) {
    Thread *thread = process.thread(id);
    if (!thread || !thread->hasUnplaced) continue; // forgotten meanwhile: placed then (forgetThread)
    thread->history.at(clientNs, [&](ThreadSample &s) { addSample(s, thread->unplaced); });
    thread->unplaced = ThreadSample{};
    thread->hasUnplaced = false;
  }
  process.unplacedThreads.clear();
  ThreadSample &unlisted = process.unplacedUnlisted;
  if (unlisted.holds || unlisted.waits || unlisted.holdNs || unlisted.waitNs) {
    process.unlistedThreads.at(clientNs, [&](ThreadSample &s) { addSample(s, unlisted); });
    unlisted = ThreadSample{};
  }
}

void NativeStore::gilTotals(Process &process, Thread *thread, uint32_t threadId, const gw_gil_totals *totals,
                            uint32_t count) {
  process.totalsSeen = true;
  if (threadId == GW_RETIRED_THREADS) {
    // Applied at the next STATUS, once the connection has restated its live threads.
    process.pendingRetired.assign(totals, totals + count);
    process.hasPendingRetired = true;
    return;
  }
  // A refused thread still counts, under thread="other": the process's totals stay exact.
  std::vector<gw_gil_totals> *lastOf;
  if (thread && thread->folded) return; // counted in the retired sum from now on
  if (thread) {
    thread->restated = true;
    lastOf = &thread->gilTotals;
  } else {
    Process::RefusedThread &refused = process.refusedTotals[threadId];
    refused.restated = true;
    lastOf = &refused.totals;
  }
  std::vector<gw_gil_totals> &last = *lastOf;
  for (uint32_t i = 0; i < count; i++) {
    gw_gil_totals &before = entryOf(last, totals[i].interp);
    gw_gil_totals d = increase(before, totals[i]);
    addGilIncrease(process, thread, d);
    accumulate(before, d);
  }
}

// The GIL at the sender's last tick. Contended time is the sender's own union of waits
// (exact); waiters and holders replace what the server had, so a range whose end was
// dropped never looks open for longer than one tick.
void NativeStore::gilState(Process &process, const gw_gil_state_header &header, const gw_gil_contention *gils,
                           const gw_gil_open *open) {
  for (GilAccount &g : process.gils) g.waitersNow = 0;
  for (uint32_t i = 0; i < header.gils; i++) {
    GilAccount &g = process.gil(admitInterp(process, gils[i].interp));
    if (gils[i].contended_ns > g.senderContendedNs) {
      g.contendedNs += gils[i].contended_ns - g.senderContendedNs;
      g.senderContendedNs = gils[i].contended_ns;
    }
    g.waitersNow = gils[i].waiters;
  }
  process.gilOpen.clear();
  for (uint32_t i = 0; i < header.open; i++)
    process.gilOpen.push_back(Process::GilOpen{open[i].thread, open[i].kind == GW_OPEN_HOLD,
                                               admitInterp(process, open[i].interp), open[i].start_ns});
}

void NativeStore::refusedThreadExit(Process &process, uint32_t threadId) {
  // Its totals stay under thread="other" until the sender folds them (THREAD_FOLDED).
  process.refusedThreads.erase(threadId);
}

void NativeStore::threadFolded(Process &process, uint32_t threadId, uint64_t serverNowNs) {
  // What the server last had of the thread now counts as part of the sender's retired sum:
  // the next RETIRED totals add only what it did not have.
  if (Thread *thread = process.thread(threadId)) {
    for (const gw_gil_totals &t : thread->gilTotals)
      accumulate(entryOf(process.knownRetired, admitInterp(process, t.interp)), t);
    thread->gilTotals.clear();
    thread->folded = true;
    if (!thread->exited) thread->exitServerNs = serverNowNs; // forgotten a window after, like any exit
    thread->exited = true;
    thread->open.clear();
    return;
  }
  auto parked = process.refusedTotals.find(threadId);
  if (parked == process.refusedTotals.end()) return;
  for (const gw_gil_totals &t : parked->second.totals)
    accumulate(entryOf(process.knownRetired, admitInterp(process, t.interp)), t);
  process.refusedTotals.erase(parked);
  process.refusedThreads.erase(threadId);
}

// The sender's retired totals cover every thread it has reaped; the server already counts
// the ones it saw end (THREAD_EXIT) and, after a reconnection, the ones the new connection
// did not restate (they ended while it was away). The difference is what it never saw.
void NativeStore::settleRetired(Process &process, uint64_t serverNowNs) {
  if (!process.hasPendingRetired) return;
  process.hasPendingRetired = false;
  // A restatement names every thread the sender has not folded: the others were folded.
  std::vector<uint32_t> folded;
  for (auto &[id, thread] : process.threads)
    if (!thread->restated && !thread->folded) folded.push_back(id);
  for (auto &[id, parked] : process.refusedTotals)
    if (!parked.restated) folded.push_back(id);
  for (uint32_t id : folded) threadFolded(process, id, serverNowNs);
  for (const gw_gil_totals &sender : process.pendingRetired) {
    gw_gil_totals &known = entryOf(process.knownRetired, admitInterp(process, sender.interp));
    gw_gil_totals d = increase(known, sender);
    addGilIncrease(process, nullptr, d);
    accumulate(known, d);
  }
  process.pendingRetired.clear();
}

} // namespace gilwatch
