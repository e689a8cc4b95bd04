// Processes and threads come and go: HELLO (attach), the connection's end (detach),
// definitions, exits and STATUS, and the sweep that retires and forgets them (see store.h).
#include "store.h"

#include "gil_names.h"

#include <algorithm>
#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace gilwatch {

NativeStore::NativeStore(NativeStoreOptions options) : options_(options) {
  gilDomain_ = strings_.intern(GW_GIL_DOMAIN);
  holding_ = strings_.intern(GW_GIL_HOLDING);
  waiting_ = strings_.intern(GW_GIL_WAITING);
  dropRequest_ = strings_.intern(GW_GIL_DROP_REQUEST);
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
    process->unlistedThreads.configure(options_.threadTiers);
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
  if (!process->startMonotonicNs) process->startMonotonicNs = hello.monotonic_ns;
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
    settleWorstHolds(*process, endNs, true);
  }
  placeThreadHistory(*process, endNs); // totals that no STATUS followed
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
      settleWorstHolds(*process, process->handoverEndNs, true);
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
  // A retired process keeps its totals and summary, its history without its seconds (its
  // service's charts across restarts), the coarsest tier of its kRetiredThreadHistories
  // busiest threads' histories (the others' added to its unlisted threads') and its
  // kWorstKeptRetired worst holds (the timeline of the first kWorstTimelinesRetired), not its
  // ranges or its threads' causes: memory stays bounded however many processes come and go.
  for (auto &[id, thread] : process.threads) {
    thread->recent = BoundedRing<RecentRange>(options_.recentPerThread);
    thread->significant = BoundedRing<RecentRange>(4096);
    thread->density = DensityBins();
    std::vector<HoldCause>().swap(thread->causes);
  }
  for (GilSeries &s : process.series) s.dropFinest();
  placeThreadHistory(process, process.viewNowNs(serverNowNs));
  std::vector<Thread *> busiest;
  for (auto &[id, thread] : process.threads) busiest.push_back(thread.get());
  std::sort(busiest.begin(), busiest.end(), [](const Thread *a, const Thread *b) {
    return a->holds.sumNs != b->holds.sumNs ? a->holds.sumNs > b->holds.sumNs : a->id < b->id;
  });
  for (size_t i = 0; i < busiest.size(); i++) {
    if (i >= kRetiredThreadHistories) {
      process.unlistedThreads.add(busiest[i]->history);
      busiest[i]->history.configure(options_.threadTiers); // empty
    }
    busiest[i]->history.keepCoarsest();
  }
  process.unlistedThreads.keepCoarsest();
  trimWorstHolds(process);
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
  // Its history stays in its process's, with every other forgotten thread's.
  Thread &t = *thread->second;
  if (t.hasUnplaced) placeThreadHistory(process, process.lastSentNs);
  process.unlistedThreads.add(t.history);
  process.forgottenThreadCount++;
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
    found->second->history.configure(options_.threadTiers);
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
  placeThreadHistory(process, status.sent_ns);
  process.droppedEvents = std::max(process.droppedEvents, status.dropped_events);
  process.unmatchedPops = std::max(process.unmatchedPops, status.unmatched_pops);
  settleWorstHolds(process, status.sent_ns, false);
}

} // namespace gilwatch
