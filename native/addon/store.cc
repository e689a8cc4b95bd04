// Aggregation of decoded frames into per-process, per-thread state (see store.h).
#include "store.h"

#include "gil_names.h"
#include "gil_totals.h"

#include <algorithm>
#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace gilwatch {

StringTable::StringTable() {
  intern("");        // id 0: NVTX's default domain, "no message"
  intern("(other)"); // id 1: beyond the process's limits
}

StringTable &StringTable::operator=(const StringTable &other) {
  if (this == &other) return *this;
  texts_.clear();
  ids_.clear(); // its views point into `other`: rebuilt over our own copies
  bytes_ = 0;
  for (const std::string &text : other.texts_) intern(text);
  return *this;
}

uint32_t StringTable::intern(std::string_view text, size_t maxCount, size_t maxBytes) {
  auto found = ids_.find(text);
  if (found != ids_.end()) return found->second;
  if (texts_.size() >= maxCount || bytes_ + text.size() > maxBytes) return overflowId();
  uint32_t id = static_cast<uint32_t>(texts_.size());
  texts_.emplace_back(text);
  bytes_ += text.size();
  ids_.emplace(texts_.back(), id);
  return id;
}

ThreadGil &gilFor(std::vector<ThreadGil> &list, int64_t interp) {
  for (ThreadGil &g : list)
    if (g.interp == interp) return g;
  list.emplace_back();
  list.back().interp = interp;
  return list.back();
}

SecondSeries &Process::secondsOf(int64_t interp) {
  for (auto &[id, series] : seconds)
    if (id == interp) return series;
  seconds.emplace_back(interp, SecondSeries{});
  return seconds.back().second;
}

GilTotals &Process::gil(int64_t interp) {
  for (GilTotals &g : gils)
    if (g.interp == interp) return g;
  gils.emplace_back();
  gils.back().interp = interp;
  return gils.back();
}

NativeStore::NativeStore(NativeStoreOptions options) : options_(options) {
  gilDomain_ = strings_.intern(GW_GIL_DOMAIN);
  holding_ = strings_.intern(GW_GIL_HOLDING);
  waiting_ = strings_.intern(GW_GIL_WAITING);
  dropRequest_ = strings_.intern(GW_GIL_DROP_REQUEST);
}

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

int64_t NativeStore::interpOf(uint8_t payloadType, uint64_t payload) {
  if (payloadType == GW_PAYLOAD_INT64 || payloadType == GW_PAYLOAD_UINT64) return static_cast<int64_t>(payload);
  return 0;
}

Totals &Thread::totalsFor(const TotalsKey &key, size_t maxKeys, bool &folded) {
  if (lastTotals < totals.size() && totals[lastTotals].first == key) return totals[lastTotals].second;
  for (size_t i = 0; i < totals.size(); i++) {
    if (totals[i].first == key) {
      lastTotals = i;
      return totals[i].second;
    }
  }
  if (totals.size() >= maxKeys) {
    TotalsKey other{1, 1, key.kind}; // "(other)" in every table
    if (!(key == other)) {
      folded = true;
      return totalsFor(other, SIZE_MAX, folded);
    }
  }
  totals.emplace_back(key, Totals{});
  lastTotals = totals.size() - 1;
  return totals.back().second;
}

uint64_t Process::clientNowNs(uint64_t serverNowNs) const {
  if (lastStatusServerNs) return lastSentNs + (serverNowNs - lastStatusServerNs);
  return helloMonotonicNs + (serverNowNs - helloServerNs);
}

Process *NativeStore::find(uint64_t instance) {
  auto found = byInstance_.find(instance);
  return found == byInstance_.end() ? nullptr : found->second;
}

Process *NativeStore::attach(const gw_hello &hello, std::string service, std::string executable,
                             std::vector<std::string> argv, const std::string &owner, uint64_t serverNowNs,
                             gw_decode_error &refusal) {
  Process *process = find(hello.instance);
  // An instance id is not a secret (the API lists them): who may continue a process is
  // decided by the credentials of the connection that started it.
  if (process && process->owner != owner) {
    refusal = GW_DECODE_FOREIGN_INSTANCE;
    return nullptr;
  }
  if (!process) {
    // Counted, not searched: a HELLO costs the same with 100 000 processes known. Only at the
    // limit is the longest-disconnected one looked for.
    if (processes_.size() - retiredCount_ >= options_.limits.liveProcesses) {
      Process *longestDisconnected = nullptr;
      for (auto &p : processes_)
        if (p->state == ProcessState::Disconnected &&
            (!longestDisconnected || p->disconnectedServerNs < longestDisconnected->disconnectedServerNs))
          longestDisconnected = p.get();
      overflow(LimitKind::LiveProcesses);
      if (!longestDisconnected) {
        refusal = GW_DECODE_TOO_MANY_PROCESSES;
        return nullptr;
      }
      retire(*longestDisconnected, serverNowNs); // sweep() forgets it among the retired
    }
    processes_.push_back(std::make_unique<Process>());
    process = processes_.back().get();
    byInstance_.emplace(hello.instance, process);
    process->strings = strings_;
    process->instance = hello.instance;
    process->owner = owner;
    process->domainIds.assign(GW_MAX_DOMAINS, Process::kUndefined);
    process->domainIds[GW_DEFAULT_DOMAIN] = 0;
  }
  // A new connection of a known instance restates its live threads before its first STATUS.
  for (auto &[id, thread] : process->threads) thread->restated = false;
  for (auto &[id, refused] : process->refusedTotals) refused.restated = false;
  process->pid = hello.pid;
  process->ppid = hello.ppid;
  process->service = std::move(service);
  process->executable = std::move(executable);
  process->argv = std::move(argv);
  process->helloMonotonicNs = hello.monotonic_ns;
  process->helloRealtimeNs = hello.realtime_ns;
  process->helloServerNs = serverNowNs;
  process->lastStatusServerNs = 0;
  if (process->state == ProcessState::Retired) retiredCount_--; // a retired instance reconnecting lives again
  process->state = ProcessState::Connected;
  process->stateChangedServerNs = serverNowNs;
  process->connections++;
  process->awaitingReconnect = false; // what the last connection left open, this one ends
  return process;
}

void NativeStore::completeRange(Process &process, Thread &thread, const OpenRange &range, uint64_t endNs, uint8_t flags,
                                EventKind kind) {
  uint64_t duration = endNs > range.startNs ? endNs - range.startNs : 0;
  bool folded = false;
  Totals &totals =
      thread.totalsFor(TotalsKey{range.domain, range.message, kind}, options_.limits.rangeKeysPerThread, folded);
  if (folded) overflow(LimitKind::RangeKeys);
  totals.count++;
  totals.totalNs += duration;
  if (duration > totals.maxNs) totals.maxNs = duration;
  RecentRange recent{range.startNs, endNs, range.payload,     range.domain, range.message,
                     range.depth,   flags, range.payloadType, kind};
  thread.recent.push(recent);
  if (kind == EventKind::Range) {
    if (duration >= kSignificantNs) thread.significant.push(recent);
    thread.density.add(laneOf(range.domain, range.message), range.startNs, endNs);
    thread.lastEndNs = std::max(thread.lastEndNs, endNs);
  }
  countGil(process, thread, range, duration, endNs, kind);
  process.rangesReceived++;
  counters_.rangesReceived++;
}

ThreadGil &NativeStore::threadGil(Process &process, Thread &thread, int64_t interp) {
  if (thread.slot == LabelSlot::Unassigned) {
    bool own = process.ownLabels < options_.metrics.maxThreads;
    thread.slot = own ? LabelSlot::Own : LabelSlot::Other;
    if (own) process.ownLabels++;
  }
  return gilFor(thread.slot == LabelSlot::Own ? thread.gil : process.otherThreads, interp);
}

void NativeStore::countGil(Process &process, Thread &thread, const OpenRange &range, uint64_t durationNs,
                           uint64_t endNs, EventKind kind) {
  if (range.domain != gilDomain_) {
    if (kind != EventKind::Range) return;
    for (RangeHistogram &h : process.rangeHistograms) {
      if (h.domain == range.domain && h.message == range.message) return h.histogram.add(durationNs);
    }
    if (process.rangeHistograms.size() < options_.metrics.maxRangeKeys) {
      process.rangeHistograms.push_back(RangeHistogram{range.domain, range.message, {}});
      return process.rangeHistograms.back().histogram.add(durationNs);
    }
    return process.otherRanges.add(durationNs);
  }
  int64_t interp = admitInterp(process, interpOf(range.payloadType, range.payload));
  if (kind == EventKind::Mark) {
    if (range.message == dropRequest_) process.secondsOf(interp).at(range.startNs / 1'000'000'000).dropRequests++;
    return;
  }
  bool hold = range.message == holding_;
  if (!hold && range.message != waiting_) return;
  size_t bucket = durationBucket(durationNs); // one lookup for the three histograms below
  // Per-second series: time split across the seconds it covers, the rest at its end.
  SecondSeries &series = process.secondsOf(interp);
  uint64_t first = range.startNs / 1'000'000'000, last = endNs / 1'000'000'000;
  if (last - first >= SecondSeries::kSeconds) first = last - SecondSeries::kSeconds + 1;
  for (uint64_t second = first; second <= last; second++) {
    uint64_t from = std::max(range.startNs, second * 1'000'000'000), to = std::min(endNs, (second + 1) * 1'000'000'000);
    (hold ? series.at(second).holdNs : series.at(second).waitNs) += to > from ? to - from : 0;
  }
  // Every count (python_gil_* counters and histograms, the run summary) comes from the
  // process's own totals (GIL_TOTALS, the shared region): ranges are detail and may be
  // dropped. They feed what is about time: the dashboard's per-second series, and the
  // sliding-window longest hold (holds of GW_OPEN_REPORT_AFTER_NS or more are never dropped).
  SecondSample &end = series.at(last);
  if (hold) {
    end.acquisitions++;
    end.holdMaxNs = std::max(end.holdMaxNs, durationNs);
    end.holdBuckets[bucket]++;
    threadGil(process, thread, interp)
        .holdMax.add(endNs / (options_.metrics.holdMaxWindowNs / WindowMax::kSlots), durationNs);
  } else {
    end.waitMaxNs = std::max(end.waitMaxNs, durationNs);
    end.waitBuckets[bucket]++;
  }
}

// One thread's (or, with thread == nullptr, the retired threads') increase since its last
// totals, added everywhere the counts are read: the GIL's histograms, the thread's label
// (retired threads the server never saw end go to thread="other") and the run summary.
void NativeStore::addGilIncrease(Process &process, Thread *thread, const gw_gil_totals &d) {
  int64_t interp = admitInterp(process, d.interp);
  GilTotals &gil = process.gil(interp);
  addTo(gil.hold, d.hold_buckets, d.holds, d.hold_ns, d.longest_hold_ns);
  addTo(gil.wait, d.wait_buckets, d.waits, d.wait_ns, d.longest_wait_ns);
  gil.dropRequests += d.drop_requests;
  ThreadGil &mine = thread ? threadGil(process, *thread, interp) : gilFor(process.otherThreads, interp);
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
    gw_gil_totals &before = totalsOf(last, totals[i].interp);
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
  for (GilTotals &g : process.gils) g.waitersNow = 0;
  for (uint32_t i = 0; i < header.gils; i++) {
    GilTotals &g = process.gil(admitInterp(process, gils[i].interp));
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
      accumulate(totalsOf(process.knownRetired, admitInterp(process, t.interp)), t);
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
    accumulate(totalsOf(process.knownRetired, admitInterp(process, t.interp)), t);
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
    gw_gil_totals &known = totalsOf(process.knownRetired, admitInterp(process, sender.interp));
    gw_gil_totals d = increase(known, sender);
    addGilIncrease(process, nullptr, d);
    accumulate(known, d);
  }
  process.pendingRetired.clear();
}

void NativeStore::closeOpenRanges(Process &process, uint64_t endNs) {
  for (auto &[id, thread] : process.threads) {
    for (const OpenRange &range : thread->open)
      completeRange(process, *thread, range, std::max(endNs, range.startNs), kFlagClosedAtDisconnect, EventKind::Range);
    thread->open.clear();
  }
  process.started.clear();
  process.endedBeforeStart.clear();
}

void NativeStore::detach(Process *process, uint64_t serverNowNs) {
  if (!process || --process->connections > 0) return;
  // Ranges still open end when the process left: a hold that never ended is still a hold.
  // Unless the sender said it reconnects (a fork): then the next connection ends them, and
  // closing them here would count each twice.
  uint64_t endNs = process->clientNowNs(serverNowNs);
  if (process->reconnecting) {
    process->awaitingReconnect = true;
    process->handoverEndNs = endNs;
  } else {
    closeOpenRanges(*process, endNs);
  }
  process->reconnecting = false;
  process->state = ProcessState::Disconnected;
  process->disconnectedServerNs = serverNowNs;
  process->stateChangedServerNs = serverNowNs;
  finishRegion(*process, serverNowNs); // gone already (crashed, killed, exited): its final totals now
}

void NativeStore::sweep(uint64_t serverNowNs, uint64_t retireAfterNs, uint64_t forgetAfterNs, size_t maxRetired) {
  size_t retired = 0;
  bool freed = false;
  for (auto &process : processes_) {
    // Threads that exited a while ago: free their memory and their label slot.
    for (auto it = process->threads.begin(); it != process->threads.end();) {
      Thread &t = *it->second;
      if (t.exited && serverNowNs - t.exitServerNs >= retireAfterNs) {
        it = forgetThread(*process, it);
        freed = true;
      } else {
        ++it;
      }
    }
    // Announced a reconnection that did not come (the process died right after forking).
    if (process->awaitingReconnect && serverNowNs - process->disconnectedServerNs >= kReconnectGraceNs) {
      closeOpenRanges(*process, process->handoverEndNs);
      process->awaitingReconnect = false;
    }
    if (process->state == ProcessState::Disconnected && serverNowNs - process->disconnectedServerNs >= retireAfterNs) {
      retire(*process, serverNowNs);
      freed = true;
    }
    if (process->state == ProcessState::Retired) retired++;
  }
  // Forget the oldest retired first.
  std::vector<Process *> candidates;
  for (auto &process : processes_)
    if (process->state == ProcessState::Retired) candidates.push_back(process.get());
  std::sort(candidates.begin(), candidates.end(),
            [](const Process *a, const Process *b) { return a->stateChangedServerNs < b->stateChangedServerNs; });
  std::vector<Process *> forget;
  for (Process *process : candidates) {
    if (retired > maxRetired || serverNowNs - process->stateChangedServerNs >= forgetAfterNs) {
      forget.push_back(process);
      retired--;
    }
  }
  if (!forget.empty()) {
    std::unordered_set<const Process *> gone(forget.begin(), forget.end());
    for (const Process *process : forget) byInstance_.erase(process->instance);
    retiredCount_ -= forget.size(); // only retired processes are forgotten
    processes_.erase(std::remove_if(processes_.begin(), processes_.end(),
                                    [&](const std::unique_ptr<Process> &p) { return gone.count(p.get()) != 0; }),
                     processes_.end());
    freed = true;
  }
#ifdef __GLIBC__
  // Thread churn frees many small blocks spread over the heap: glibc keeps them (RSS stays
  // at its peak) unless asked to give free pages back. A trim walks the whole heap (15 ms at
  // 330 MB), so it runs at most every kTrimEveryNs, and surely that long after a free.
  trimPending_ = trimPending_ || freed;
  if (trimPending_ && serverNowNs - lastTrimNs_ >= kTrimEveryNs) {
    malloc_trim(0);
    trimPending_ = false;
    lastTrimNs_ = serverNowNs;
  }
#endif
}

size_t NativeStore::forgetEnded() {
  size_t before = processes_.size();
  auto ended = [](const std::unique_ptr<Process> &p) {
    return p->state != ProcessState::Connected && !p->awaitingReconnect && !p->region;
  };
  for (auto &p : processes_) {
    if (!ended(p)) continue;
    byInstance_.erase(p->instance);
    if (p->state == ProcessState::Retired) retiredCount_--;
  }
  processes_.erase(std::remove_if(processes_.begin(), processes_.end(), ended), processes_.end());
  return before - processes_.size();
}

void NativeStore::retire(Process &process, uint64_t serverNowNs) {
  if (process.state != ProcessState::Retired) retiredCount_++;
  process.state = ProcessState::Retired;
  process.stateChangedServerNs = serverNowNs;
  // A retired process keeps its totals and summary, not its ranges: memory stays
  // bounded however many processes come and go.
  for (auto &[id, thread] : process.threads) {
    thread->recent = BoundedRing<RecentRange>(options_.recentPerThread);
    thread->significant = BoundedRing<RecentRange>(4096);
    thread->density = DensityBins();
  }
  process.seconds.clear();
  // No frame of it comes any more: what was kept to recognize restated threads goes too.
  std::unordered_map<uint32_t, Process::RefusedThread>().swap(process.refusedTotals);
}

void NativeStore::defineString(Process &process, const gw_string &header, std::string_view text) {
  const IngestLimits &limits = options_.limits;
  uint64_t categoryKey = (static_cast<uint64_t>(header.domain) << 32) | header.id;
  // Category numbers are the sender's choice, unlike domain and message ids: bound the map.
  if (header.kind == GW_STRING_CATEGORY && process.categoryNames.size() >= limits.stringsPerProcess &&
      !process.categoryNames.count(categoryKey))
    return overflow(LimitKind::Strings);
  uint32_t id = process.strings.intern(text, limits.stringsPerProcess, limits.stringBytesPerProcess);
  if (id == process.strings.overflowId() && text != "(other)") overflow(LimitKind::Strings);
  switch (header.kind) {
    case GW_STRING_DOMAIN: process.domainIds[header.id] = id; break;
    case GW_STRING_MESSAGE:
      if (process.messageIds.size() <= header.id) process.messageIds.resize(header.id + 1, Process::kUndefined);
      process.messageIds[header.id] = id;
      break;
    case GW_STRING_CATEGORY: process.categoryNames[categoryKey] = id; break;
  }
}

std::map<uint32_t, std::unique_ptr<Thread>>::iterator NativeStore::forgetThread(
    Process &process, std::map<uint32_t, std::unique_ptr<Thread>>::iterator thread) {
  if (thread->second->slot == LabelSlot::Own) process.ownLabels--;
  // Until the sender folds it, the thread may be restated (a reconnection): what was counted
  // of it is kept, so that it is not counted again.
  if (!thread->second->folded && !thread->second->gilTotals.empty())
    process.refusedTotals[thread->first] = Process::RefusedThread{std::move(thread->second->gilTotals), true};
  return process.threads.erase(thread);
}

bool NativeStore::forgetOldestExited(Process &process) {
  auto oldest = process.threads.end();
  for (auto it = process.threads.begin(); it != process.threads.end(); ++it)
    if (it->second->exited &&
        (oldest == process.threads.end() || it->second->exitServerNs < oldest->second->exitServerNs))
      oldest = it;
  if (oldest == process.threads.end()) return false;
  forgetThread(process, oldest);
  return true;
}

Thread *NativeStore::defineThread(Process &process, uint32_t id, uint32_t tid, std::string_view name) {
  auto found = process.threads.find(id);
  if (found == process.threads.end()) {
    if (process.refused(id)) {
      auto refused = process.refusedTotals.find(id);
      if (refused != process.refusedTotals.end()) refused->second.restated = true;
      return nullptr;
    }
    // At the limit, a thread that has exited yields its place (its detail, kept for the
    // dashboard until it is forgotten anyway): a program that starts a thread per request
    // stays monitored. Only threads alive at once are capped; their totals are exact anyway.
    if (process.threads.size() >= options_.limits.threadsPerProcess && !forgetOldestExited(process)) {
      overflow(LimitKind::Threads);
      if (process.refusedThreads.size() < Process::kMaxRefusedThreads) process.refusedThreads.insert(id);
      return nullptr;
    }
    found = process.threads.emplace(id, std::make_unique<Thread>(options_.recentPerThread)).first;
    auto parked = process.refusedTotals.find(id); // forgotten before, restated now
    if (parked != process.refusedTotals.end()) {
      found->second->gilTotals = std::move(parked->second.totals);
      process.refusedTotals.erase(parked);
    }
  }
  Thread &thread = *found->second;
  thread.id = id;
  thread.tid = tid;
  thread.restated = true;
  thread.name.assign(name);
  return &thread;
}

void NativeStore::threadExit(Thread &thread, uint64_t timeNs, uint64_t serverNowNs) {
  // The sender already closed what the thread had pushed; anything left is stale. Its totals
  // stay its own until the sender folds them (THREAD_FOLDED).
  thread.open.clear();
  thread.exited = true;
  thread.exitNs = timeNs;
  thread.exitServerNs = serverNowNs;
}

void NativeStore::status(Process &process, const gw_status &status, uint64_t serverNowNs, uint64_t serverRealtimeNs) {
  process.reconnecting = (status.flags & GW_STATUS_RECONNECTING) != 0;
  process.lastSentNs = status.sent_ns;
  process.lastStatusServerNs = serverNowNs;
  int64_t sentRealtime = static_cast<int64_t>(process.helloRealtimeNs) +
                         (static_cast<int64_t>(status.sent_ns) - static_cast<int64_t>(process.helloMonotonicNs));
  process.lagNs = static_cast<int64_t>(serverRealtimeNs) - sentRealtime;
  if (status.flags & GW_STATUS_FINAL) process.finalStatus = true;
  settleRetired(process, serverNowNs);
  process.droppedEvents = std::max(process.droppedEvents, status.dropped_events);
  process.unmatchedPops = std::max(process.unmatchedPops, status.unmatched_pops);
}

// "module:function" for a Python frame: the file's name without ".py" (a package's
// __init__.py: the package's directory), e.g. "/app/store.py", "Store.flush" -> "store:Store.flush".
static std::string siteName(const std::string &file, const std::string &function) {
  std::string_view path = file;
  if (path.size() >= 3 && path.substr(path.size() - 3) == ".py") path.remove_suffix(3);
  size_t slash = path.find_last_of('/');
  std::string_view module = slash == std::string_view::npos ? path : path.substr(slash + 1);
  if (module == "__init__" && slash != std::string_view::npos && slash > 0) {
    std::string_view dir = path.substr(0, slash);
    size_t up = dir.find_last_of('/');
    module = up == std::string_view::npos ? dir : dir.substr(up + 1);
  }
  return std::string(module.empty() ? "?" : module) + ":" + (function.empty() ? "?" : function);
}

void NativeStore::holdCause(Process &process, Thread &thread, const gw_hold_cause &c) {
  HoldCause *cause = nullptr;
  for (HoldCause &existing : thread.causes)
    if (existing.startNs == c.start_ns) cause = &existing;
  if (!cause) {
    if (thread.causes.size() >= Thread::kCausesKept) {
      // Room for the newest: the shortest hold outside the latest ones gives its place.
      auto older = thread.causes.end() - static_cast<long>(Thread::kCausesLatest);
      auto victim = std::min_element(thread.causes.begin(), older, [](const HoldCause &a, const HoldCause &b) {
        return a.lengthNs() < b.lengthNs();
      });
      thread.causes.erase(victim);
    }
    thread.causes.emplace_back();
    cause = &thread.causes.back();
  }
  bool wasFinal = cause->final;
  cause->startNs = c.start_ns;
  cause->final = c.flags & GW_CAUSE_FINAL;
  cause->framesMissing = c.flags & (GW_CAUSE_FRAMES_LOCKED | GW_CAUSE_FRAMES_LATE | GW_CAUSE_FRAMES_UNSEEN);
  cause->bracketed = (c.flags & GW_CAUSE_BRACKETED) != 0;
  cause->interp = c.interp;
  cause->sampledFromNs = c.sampled_from_ns;
  cause->sampledToNs = c.sampled_to_ns;
  cause->onCpuNs = c.on_cpu_ns;
  cause->runqueueNs = c.runqueue_ns;
  cause->blockedNs = c.blocked_ns;
  cause->majorFaults = c.major_faults;
  cause->samples = c.samples;
  cause->otherSamples = c.other_samples;
  // Sender message ids to this process's string ids; an id never defined reads as unknown (0).
  auto text = [&process](uint32_t id) -> uint32_t {
    return id != GW_NO_MESSAGE && id < process.messageIds.size() && process.messageIds[id] != Process::kUndefined
               ? process.messageIds[id]
               : 0;
  };
  for (size_t i = 0; i < GW_CAUSE_SYSCALLS; i++)
    cause->blockedIn[i] = {c.blocked_in[i].syscall, text(c.blocked_in[i].wait_site), c.blocked_in[i].ns};
  for (size_t i = 0; i < GW_CAUSE_OTHERS; i++) cause->others[i] = {c.others[i].syscall, c.others[i].thread_samples};
  if (c.frame_count) { // the first report that has them; later ones repeat them
    cause->frames.clear();
    for (size_t i = 0; i < c.frame_count && i < GW_CAUSE_FRAMES; i++)
      cause->frames.push_back({text(c.frames[i].function), text(c.frames[i].file), c.frames[i].line});
    cause->stackDepth = c.stack_depth;
  }
  if (cause->final && !wasFinal) {
    GilTotals &gil = process.gil(admitInterp(process, c.interp));
    std::string site = cause->frames.empty() ? "unknown"
                                             : siteName(process.strings.text(cause->frames[0].file),
                                                        process.strings.text(cause->frames[0].function));
    std::vector<LongHoldSite> &sites = gil.longHoldSites;
    LongHoldSite *slot = &sites.back(); // "other"
    for (LongHoldSite &s : sites)
      if (s.site == site) slot = &s;
    if (slot == &sites.back() && site != "other" && sites.size() <= options_.metrics.maxSites)
      slot = &*sites.insert(sites.end() - 1, LongHoldSite{site, {0, 0, 0}});
    slot->ns[0] += c.on_cpu_ns;
    slot->ns[1] += c.runqueue_ns;
    slot->ns[2] += c.blocked_ns;
  }
}

bool NativeStore::mapIds(const Process &process, const gw_record &record, uint32_t &domain, uint32_t &message,
                         std::string &error) const {
  if (record.domain >= GW_MAX_DOMAINS || process.domainIds[record.domain] == Process::kUndefined) {
    error = "record refers to undefined domain " + std::to_string(record.domain);
    return false;
  }
  domain = process.domainIds[record.domain];
  if (record.message == GW_NO_MESSAGE) {
    message = 0;
    return true;
  }
  if (record.message >= process.messageIds.size() || process.messageIds[record.message] == Process::kUndefined) {
    error = "record refers to undefined message " + std::to_string(record.message);
    return false;
  }
  message = process.messageIds[record.message];
  return true;
}

bool NativeStore::records(Process &process, Thread &thread, const gw_record *records, uint32_t count,
                          gw_decode_error &code, std::string &error) {
  code = GW_DECODE_UNKNOWN_ID;
  for (uint32_t i = 0; i < count; i++) {
    const gw_record &record = records[i];
    uint32_t domain = 0, message = 0;
    if (record.kind != GW_RECORD_END && !mapIds(process, record, domain, message, error)) return false;
    OpenRange range{domain, message, record.aux, record.depth, record.payload_type, record.start_ns, record.payload};
    switch (record.kind) {
      case GW_RECORD_RANGE: {
        if (!thread.open.empty()) {
          // This range ends what was reported open at its level or deeper in its domain and
          // started within it (itself, or ranges nested in it). An open range that started
          // after it ended is a newer one: the OPEN of the next hold can precede, in the same
          // batch, the RANGE of the wait before it.
          auto &open = thread.open;
          open.erase(std::remove_if(open.begin(), open.end(),
                                    [&](const OpenRange &o) {
                                      return o.domain == domain && o.depth >= record.depth &&
                                             (o.startNs == record.start_ns ||
                                              (o.startNs > record.start_ns && o.startNs < record.end_ns));
                                    }),
                     open.end());
        }
        completeRange(process, thread, range, record.end_ns, record.flags & GW_FLAG_CLOSED_BY_THREAD_EXIT,
                      EventKind::Range);
        break;
      }
      case GW_RECORD_OPEN: {
        auto &open = thread.open;
        auto same = std::find_if(open.begin(), open.end(),
                                 [&](const OpenRange &o) { return o.domain == domain && o.depth == record.depth; });
        if (same != open.end()) {
          *same = range;
        } else if (open.size() < options_.limits.openRangesPerThread) {
          open.push_back(range);
        } else {
          overflow(LimitKind::OpenRanges);
        }
        break;
      }
      case GW_RECORD_START: {
        auto ended = process.endedBeforeStart.find(record.aux);
        if (ended != process.endedBeforeStart.end()) {
          completeRange(process, thread, range, ended->second, 0, EventKind::Range);
          process.endedBeforeStart.erase(ended);
        } else if (process.started.size() < options_.maxStartedRanges) {
          process.started[record.aux] = StartedRange{thread.id, range};
        }
        break;
      }
      case GW_RECORD_END: {
        auto started = process.started.find(record.aux);
        if (started != process.started.end()) {
          Thread *starter = process.thread(started->second.thread);
          completeRange(process, starter ? *starter : thread, started->second.range, record.end_ns, 0,
                        EventKind::Range);
          process.started.erase(started);
        } else if (process.endedBeforeStart.size() < options_.maxStartedRanges) {
          process.endedBeforeStart[record.aux] = record.end_ns;
        }
        break;
      }
      case GW_RECORD_MARK: completeRange(process, thread, range, record.start_ns, 0, EventKind::Mark); break;
      default:
        code = GW_DECODE_BAD_RECORD;
        error = "unknown record kind " + std::to_string(record.kind);
        return false;
    }
  }
  return true;
}

} // namespace gilwatch
