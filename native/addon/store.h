// What the server knows about every monitored process: threads, open ranges, recent
// completed ranges and running totals. Fed by Connection (decoder.h), read by the
// JavaScript side through addon.cc. Single-threaded: everything runs on Node's main thread.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "../protocol/decode_errors.h"
#include "../protocol/gilwatch_protocol.h"
#include "gil_metrics.h"
#include "history.h"
#include "../protocol/ingest_limits.h"
#include "shared_region.h"
#include "string_table.h"

namespace gilwatch {

// Oldest entries are overwritten once `capacity` is reached; storage grows on demand.
template <typename T>
class BoundedRing {
 public:
  explicit BoundedRing(size_t capacity) : capacity_(capacity ? capacity : 1) {}
  void push(const T &item) {
    if (items_.size() < capacity_) {
      items_.push_back(item);
    } else {
      items_[pushed_ % capacity_] = item;
    }
    pushed_++;
  }
  size_t size() const { return items_.size(); }
  uint64_t pushed() const { return pushed_; }
  // i-th oldest retained item.
  const T &at(size_t i) const { return items_.size() < capacity_ ? items_[i] : items_[(pushed_ + i) % capacity_]; }

 private:
  size_t capacity_;
  uint64_t pushed_ = 0;
  std::vector<T> items_;
};

enum class EventKind : uint8_t { Range = 0, Mark = 1 };

// Server-side flag, beside the wire's GW_FLAG_CLOSED_BY_THREAD_EXIT.
constexpr uint8_t kFlagClosedAtDisconnect = 0x80;
// How long ranges left open by a connection that announced its replacement wait for it.
constexpr uint64_t kReconnectGraceNs = 2'000'000'000;

struct TotalsKey {
  uint32_t domain;
  uint32_t message;
  EventKind kind;
  bool operator==(const TotalsKey &o) const { return domain == o.domain && message == o.message && kind == o.kind; }
};

struct Totals {
  uint64_t count = 0;
  uint64_t totalNs = 0;
  uint64_t maxNs = 0;
};

struct OpenRange {
  uint32_t domain; // server string ids
  uint32_t message;
  uint32_t category;
  uint8_t depth;
  uint8_t payloadType;
  uint64_t startNs;
  uint64_t payload;
};

struct RecentRange {
  uint64_t startNs;
  uint64_t endNs;
  uint64_t payload;
  uint32_t domain;
  uint32_t message;
  uint8_t depth;
  uint8_t flags;
  uint8_t payloadType;
  EventKind kind;
};

// Why a long hold was long (GW_FRAME_HOLD_CAUSE), latest report per hold.
struct HoldCause {
  uint64_t startNs = 0;
  bool final = false;
  // Why it has no frames, when it has none: GW_CAUSE_FRAMES_LOCKED, _LATE or _UNSEEN.
  uint32_t framesMissing = 0;
  bool bracketed = false; // split from readings around the hold, not sampled during it
  int64_t interp = 0;
  uint64_t sampledFromNs = 0, sampledToNs = 0;
  uint64_t onCpuNs = 0, runqueueNs = 0, blockedNs = 0;
  uint32_t majorFaults = 0, samples = 0, otherSamples = 0;
  struct Blocked {
    int32_t syscall = 0;
    uint32_t waitSite = 0; // this process's string id of the kernel wait site, 0: unknown
    uint64_t ns = 0;
  };
  std::array<Blocked, GW_CAUSE_SYSCALLS> blockedIn{};
  std::array<std::pair<int32_t, uint32_t>, GW_CAUSE_OTHERS> others{}; // syscall, samples
  struct Frame {
    uint32_t function = 0, file = 0; // this process's string ids, 0: unknown
    int32_t line = 0;
  };
  std::vector<Frame> frames; // the holder's innermost Python frames, innermost first
  uint32_t stackDepth = 0;
  uint64_t lengthNs() const {
    return std::max(onCpuNs + runqueueNs + blockedNs, sampledToNs - std::min(sampledToNs, startNs));
  }
};

// Which `thread` label a thread's GIL metrics carry (see MetricsOptions::maxThreads).
enum class LabelSlot : uint8_t { Unassigned, Own, Other };

struct Thread {
  uint32_t id = 0; // the sender's id
  uint32_t tid = 0;
  std::string name;
  bool exited = false;
  uint64_t exitNs = 0;
  uint64_t exitServerNs = 0;
  LabelSlot slot = LabelSlot::Unassigned;
  bool waited = false; // a GIL wait ended and its hold has not come yet (a contended acquisition)
  // The thread's own GIL figures, all GILs together (the run summary; metrics use `gil`).
  DurationHistogram holds, waits;
  uint64_t longestHoldNs = 0, longestHoldStartNs = 0;
  // Causes of the latest kCausesLatest long holds and of the longest others, kCausesKept in all:
  // the run summary shows a thread's longest holds, the live view its latest.
  static constexpr size_t kCausesKept = 128, kCausesLatest = 64;
  std::vector<HoldCause> causes; // in the order they arrived
  const HoldCause *causeOf(uint64_t startNs) const {
    for (const HoldCause &c : causes)
      if (c.startNs == startNs) return &c;
    return nullptr;
  }
  std::vector<ThreadGil> gil;           // one per GIL (interpreter) the thread used
  std::vector<gw_gil_totals> gilTotals; // the sender's cumulative totals, latest (GW_FRAME_GIL_TOTALS)
  bool restated = true;                 // defined again on the process's current connection
  bool folded = false;                  // its totals moved into the retired sum (THREAD_FOLDED)
  std::vector<std::pair<TotalsKey, Totals>> totals;
  size_t lastTotals = 0; // most recent hit: consecutive records usually share a key
  std::vector<OpenRange> open;
  BoundedRing<RecentRange> recent;
  // For the dashboard: ranges of 1 ms or more, and everything as density, beyond `recent`.
  BoundedRing<RecentRange> significant{4096};
  DensityBins density;
  uint64_t lastEndNs = 0;
  // Its GIL figures over time (the thread table of a chosen range). `unplaced`: what its
  // totals rose by since the sender's last STATUS, placed at the next one (NativeStore::
  // placeThreadHistory): the totals of a tick precede its STATUS, whose time is the tick's.
  ThreadHistory history;
  ThreadSample unplaced;
  bool hasUnplaced = false;

  explicit Thread(size_t recentCapacity) : recent(recentCapacity) {}
  // Beyond `maxKeys` keys, totals fold into ("(other)", "(other)").
  Totals &totalsFor(const TotalsKey &key, size_t maxKeys, bool &folded);
};

// nvtx_range_duration_seconds for one (domain, message) of a process.
struct RangeHistogram {
  uint32_t domain;
  uint32_t message;
  DurationHistogram histogram;
};

enum class ProcessState : uint8_t { Connected, Disconnected, Retired };

struct StartedRange { // nvtxRangeStart waiting for its nvtxRangeEnd
  uint32_t thread;
  OpenRange range;
};

struct Timeline; // timeline.h

constexpr size_t kRetiredThreadHistories = 20;     // threads of a retired process that keep a history of their own
constexpr size_t kWorstHolds = 100;                // per process, over its whole run
constexpr uint64_t kWorstSettleNs = 1'000'000'000; // after the hold's end: its waiters, cause and context are in
constexpr uint64_t kWorstMarginNs = 1'000'000'000; // the snapshot: this long before and after the hold
constexpr double kWorstSnapshotPixels = 600;       // its resolution: (hold + 2 margins) / pixels
constexpr size_t kWorstSnapshotItems = 4096;       // and its size at most,
constexpr size_t kWorstSnapshotLanes = 64;         // its lanes at most (the holder's and its waiters' first)
constexpr size_t kWorstTimelines = 10;             // holds with a snapshot per process: the longest
constexpr size_t kWorstWaiters = 32;               // waiters kept per hold, those that waited longest
constexpr size_t kWorstKeptRetired = 10;           // once its process retired: the longest 10,
constexpr size_t kWorstTimelinesRetired = 1;       // the first with its timeline,
constexpr size_t kWorstWaitersRetired = 8;         // each with its 8 longest waiters

// One of a process's worst GIL holds: the longest kWorstHolds of its whole run, kept with what
// explains it (worst_holds.cc), so the night's worst hold still opens the next morning with
// who waited, why it was long and what every thread was doing around it.
struct WorstHold {
  uint32_t id = 0; // the process's own numbering, 1 up: how the API names it
  uint32_t thread = 0, tid = 0;
  std::string name; // the holder's, copied: the thread may be gone by the time it is read
  uint64_t startNs = 0, endNs = 0;
  int64_t interp = 0;
  // Waiters, cause and snapshot are taken kWorstSettleNs after the hold ended (the waits it
  // caused end just after it, its final cause comes at the next tick), or when the process ends.
  bool settled = false;
  struct Waiter {
    uint32_t thread;
    std::string name;
    uint64_t waitedNs;
  };
  std::vector<Waiter> waiters; // at most kWorstWaiters, longest wait first
  uint32_t waitersOmitted = 0;
  bool hasCause = false;
  HoldCause cause;
  std::shared_ptr<const Timeline> snapshot; // every thread's timeline from kWorstMarginNs before to after
  uint64_t snapshotNowNs = 0;               // the process's clock when it was taken
};

// Longest first; of equal ones, the earlier.
inline bool longerHold(const WorstHold *a, const WorstHold *b) {
  uint64_t da = a->endNs - a->startNs, db = b->endNs - b->startNs;
  return da != db ? da > db : a->startNs < b->startNs;
}

struct Process {
  uint64_t instance = 0;
  std::string owner; // the credentials that started it (NativeStore::attach)
  uint32_t pid = 0;
  uint32_t ppid = 0;
  std::string service;
  std::string executable;
  std::vector<std::string> argv;
  uint64_t helloMonotonicNs = 0; // the latest HELLO's (a fork's reconnection sends a new one)
  uint64_t startMonotonicNs = 0; // the first HELLO's: where the process's history starts
  uint64_t helloRealtimeNs = 0;
  uint64_t helloServerNs = 0; // server steady clock at HELLO

  ProcessState state = ProcessState::Connected;
  int connections = 0;
  uint64_t disconnectedServerNs = 0;
  // The connection said it is being replaced (GW_STATUS_RECONNECTING): at its end, ranges
  // still open stay open for the next one; closed at `handoverEndNs` if none comes.
  bool reconnecting = false;
  bool awaitingReconnect = false;
  uint64_t handoverEndNs = 0;
  uint64_t stateChangedServerNs = 0;

  uint64_t lastSentNs = 0; // client clock in the last STATUS
  uint64_t lastStatusServerNs = 0;
  int64_t lagNs = 0; // wall time from the sender writing the last STATUS to us reading it
  uint64_t droppedEvents = 0;
  uint64_t unmatchedPops = 0;
  uint64_t rangesReceived = 0;
  uint64_t metricsReportedSince = 0; // the first /metrics scrape that listed it (0: none yet)

  StringTable strings; // every string id below indexes this process's own table
  // Sender ids -> server ids. kUndefined until a STRING frame defines them.
  static constexpr uint32_t kUndefined = 0xFFFFFFFFu;
  std::vector<uint32_t> domainIds;
  std::vector<uint32_t> messageIds;
  std::unordered_map<uint64_t, uint32_t> categoryNames; // (domain << 32 | category) -> string id
  std::map<uint32_t, std::unique_ptr<Thread>> threads;  // by sender thread id
  // Live threads refused by IngestLimits::threadsPerProcess: their frames are ignored, not
  // errors. An id leaves at its THREAD_EXIT; at most kMaxRefusedThreads are remembered
  // (beyond, a refused thread's frames are undefined-thread errors: no honest process has
  // that many threads alive at once).
  static constexpr size_t kMaxRefusedThreads = 65536;
  std::unordered_set<uint32_t> refusedThreads;
  bool refused(uint32_t id) const { return refusedThreads.count(id) != 0; }

  // Whether its GIL totals are all in: the sender's last STATUS said so (GW_STATUS_FINAL), or
  // its shared totals region was read after it ended. `region`: that region, mapped at HELLO
  // (Unix socket) and read once the process is gone (NativeStore::settleRegions).
  bool finalStatus = false;
  bool regionFinal = false;
  std::unique_ptr<SharedRegion> region;

  // GIL metrics.
  bool totalsSeen = false; // the sender counts the GIL itself (GW_FRAME_GIL_TOTALS): ranges are detail
  struct GilOpen {
    uint32_t thread;
    bool hold; // else a wait
    int64_t interp;
    uint64_t startNs;
  };
  std::vector<GilOpen> gilOpen;              // open GIL ranges at the sender's last tick
  std::vector<gw_gil_totals> knownRetired;   // totals of the threads counted as gone
  std::vector<gw_gil_totals> pendingRetired; // the sender's retired totals, applied at the next STATUS
  bool hasPendingRetired = false;
  // Latest totals of threads the server keeps no record of that the sender has not folded:
  // refused by threadsPerProcess (counted under thread="other"), or forgotten after they
  // exited (their detail freed; a later restatement of them must not count them again).
  struct RefusedThread {
    std::vector<gw_gil_totals> totals;
    bool restated = true;
  };
  std::unordered_map<uint32_t, RefusedThread> refusedTotals;
  std::vector<GilAccount> gils;      // one per interpreter GIL seen
  std::vector<GilSeries> series;     // per GIL (interp): the dashboard's charts, in tiers
  std::vector<WorstHold> worstHolds; // at most kWorstHolds, in no order (worst_holds.cc)
  uint64_t worstShortestNs = 0;      // the shortest of them once there are kWorstHolds
  size_t worstUnsettled = 0;
  uint32_t worstSeen = 0;              // holds that joined the worst so far (their ids)
  std::vector<ThreadGil> otherThreads; // threads beyond MetricsOptions::maxThreads, per GIL
  size_t ownLabels = 0;
  std::vector<RangeHistogram> rangeHistograms; // the first maxRangeKeys (domain, message) pairs
  DurationHistogram otherRanges;               // the rest

  std::unordered_map<uint32_t, StartedRange> started;
  std::unordered_map<uint32_t, uint64_t> endedBeforeStart; // range id -> end (END overtook START)

  // The sender's CLOCK_MONOTONIC now, estimated from the last heartbeat.
  uint64_t clientNowNs(uint64_t serverNowNs) const;
  // "Now" in the views of the process: its clock now while connected, else when it left
  // (what was open then stays drawn up to there).
  uint64_t viewNowNs(uint64_t serverNowNs) const {
    return clientNowNs(state == ProcessState::Connected ? serverNowNs : disconnectedServerNs);
  }
  // Wall-clock milliseconds of a sender timestamp.
  double wallMs(uint64_t clientNs) const {
    return (static_cast<double>(helloRealtimeNs) +
            (static_cast<double>(clientNs) - static_cast<double>(helloMonotonicNs))) /
           1e6;
  }
  Thread *thread(uint32_t id) {
    auto found = threads.find(id);
    return found == threads.end() ? nullptr : found->second.get();
  }
  GilAccount &gil(int64_t interp) { return entryOf(gils, interp); }
  std::vector<int64_t> interps;          // the GILs counted on their own (NativeStore::admitInterp)
  std::vector<uint32_t> unplacedThreads; // threads with Thread::unplaced figures
  // The history of the threads the store lists no more, together: those it forgot (exited a
  // while ago: their histories added), those it refused (threadsPerProcess) and those the
  // sender reaped unseen (its retired totals). A range's thread table adds up to the process's.
  ThreadHistory unlistedThreads;
  ThreadSample unplacedUnlisted;
  uint32_t forgottenThreadCount = 0;
};

// Where the GILs of a process beyond IngestLimits::gilsPerProcess are counted (interp="-1").
constexpr int64_t kOtherInterp = -1;

struct NativeStoreOptions {
  size_t recentPerThread = 8192;
  size_t maxStartedRanges = 65536; // per process
  MetricsOptions metrics;
  IngestLimits limits;
  bool keepDefinitions = false; // for a recording's rotation (Connection::preamble)
  std::array<SeriesTier, kSeriesTiers> seriesTiers = kDefaultSeriesTiers;
  std::array<SeriesTier, kThreadTiers> threadTiers = kDefaultThreadTiers;
};

struct StoreCounters {
  uint64_t rangesReceived = 0;
  uint64_t bytesReceived = 0;
  uint64_t decodeErrors = 0;
  uint64_t connectionsOpen = 0;
  uint64_t connectionsTotal = 0;
  std::array<uint64_t, kLimitKinds> overflows{}; // by LimitKind
};

// The aggregation behind the addon's JavaScript class of the same name (addon.cc), which
// server/store.ts wraps as Store: "NativeStore" is this object, "Store" only that wrapper.
class NativeStore {
 public:
  explicit NativeStore(NativeStoreOptions options);

  // A HELLO: a new process, or the same instance reconnecting. `owner` is who sent it (the
  // connection's credentials: a local user, a token holder or a remote address); only the
  // owner that started an instance may continue it. nullptr with `refusal` set when the
  // instance belongs to another owner (FOREIGN_INSTANCE) or a new process would exceed
  // IngestLimits::liveProcesses (TOO_MANY_PROCESSES).
  Process *attach(const gw_hello &hello, std::string service, std::string executable, std::vector<std::string> argv,
                  const std::string &owner, uint64_t serverNowNs, gw_decode_error &refusal);
  void detach(Process *process, uint64_t serverNowNs);

  // The shared totals regions (shared_region.h). openRegion: at HELLO on the Unix socket,
  // the process's file in `directory`, owned by `uid`. settleRegions: the regions of
  // disconnected processes that are gone are read a last time (their totals become final)
  // and removed. scanRegions: at start, the files in `directory` (owned by `uid`) of
  // processes this server never saw end: those gone are read and listed as ended, the
  // living wait for their HELLO.
  void openRegion(Process &process, const std::string &directory, int64_t uid);
  void settleRegions(uint64_t serverNowNs);
  size_t scanRegions(const std::string &directory, int64_t uid, uint64_t serverNowNs);
  // Where a process's totals stand: "live" (connected), "final", "pending" (ended, its region
  // not yet read) or "incomplete" (ended without its final totals: a TCP connection cut).
  static const char *totalsState(const Process &process);
  // Disconnected processes become retired after `retireAfterNs`; retired ones are forgotten
  // after `forgetAfterNs` or when more than `maxRetired` are kept. Threads that exited
  // `retireAfterNs` ago are forgotten too (their label slot is freed).
  void sweep(uint64_t serverNowNs, uint64_t retireAfterNs, uint64_t forgetAfterNs, size_t maxRetired);
  // Forgets every process that has ended (not connected, not awaiting a reconnection, its
  // region read): `gilwatch report` reads a recording of any length in bounded memory by
  // summing up ended processes and then forgetting them. Returns how many it forgot.
  size_t forgetEnded();

  void defineString(Process &process, const gw_string &header, std::string_view text);
  // nullptr when the thread is beyond IngestLimits::threadsPerProcess (then refused).
  Thread *defineThread(Process &process, uint32_t id, uint32_t tid, std::string_view name);
  void threadExit(Thread &thread, uint64_t timeNs, uint64_t serverNowNs);
  // THREAD_FOLDED: the thread's totals now count in the sender's retired sum.
  void threadFolded(Process &process, uint32_t threadId, uint64_t serverNowNs);
  void status(Process &process, const gw_status &status, uint64_t serverNowNs, uint64_t serverRealtimeNs);
  // The process's worst holds: a GIL hold that just ended may join them; those that ended
  // kWorstSettleNs before `clientNowNs` (all of them with `all`: the process ended) get their
  // waiters, cause and timeline snapshot (worst_holds.cc).
  void considerWorstHold(Process &process, const Thread &thread, const OpenRange &range, uint64_t endNs);
  // The series of one GIL of the process, its tiers set up on first use; the first
  // kSeriesGils GILs have one (the charts draw the main one), the others none (nullptr).
  static constexpr size_t kSeriesGils = 4;
  GilSeries *seriesOf(Process &process, int64_t interp) {
    for (GilSeries &s : process.series)
      if (s.interp == interp) return &s;
    if (process.series.size() >= kSeriesGils) return nullptr;
    GilSeries &s = process.series.emplace_back();
    s.interp = interp;
    s.configure(options_.seriesTiers);
    return &s;
  }
  void settleWorstHolds(Process &process, uint64_t clientNowNs, bool all);
  void trimWorstHolds(Process &process); // for a retired process
  void holdCause(Process &process, Thread &thread, const gw_hold_cause &cause);
  // Cumulative GIL totals of one thread, or of every exited one (GW_RETIRED_THREADS).
  // `thread` is nullptr for the retired threads and for a thread refused by threadsPerProcess.
  void gilTotals(Process &process, Thread *thread, uint32_t threadId, const gw_gil_totals *totals, uint32_t count);
  void refusedThreadExit(Process &process, uint32_t threadId);
  void gilState(Process &process, const gw_gil_state_header &header, const gw_gil_contention *gils,
                const gw_gil_open *open);
  // Returns false with `code` ("unknown_id", "bad_record") and `error` set on an invalid record.
  bool records(Process &process, Thread &thread, const gw_record *records, uint32_t count, gw_decode_error &code,
               std::string &error);

  const std::vector<std::unique_ptr<Process>> &processes() const { return processes_; }
  Process *find(uint64_t instance);
  StoreCounters &counters() { return counters_; }
  void overflow(LimitKind kind) { counters_.overflows[static_cast<size_t>(kind)]++; }
  // Numbers the /metrics scrapes 1, 2, ... (metricsView's fairness).
  uint64_t nextScrape() { return ++scrapes_; }
  const IngestLimits &limits() const { return options_.limits; }
  const NativeStoreOptions &options() const { return options_; }
  uint32_t gilDomain() const { return gilDomain_; }
  uint32_t holdingId() const { return holding_; }
  uint32_t waitingId() const { return waiting_; }
  uint32_t dropRequestId() const { return dropRequest_; }
  LaneKind laneOf(uint32_t domain, uint32_t message) const {
    if (domain != gilDomain_) return LaneKind::User;
    return message == holding_ ? LaneKind::Hold : message == waiting_ ? LaneKind::Wait : LaneKind::User;
  }
  // The GIL a count goes to: `interp` while the process has fewer than
  // IngestLimits::gilsPerProcess GILs, else kOtherInterp (counted). Interpreter ids are never
  // reused, so a program that churns sub-interpreters, or a client that invents ids, cannot
  // grow the process's per-GIL state without bound.
  int64_t admitInterp(Process &process, int64_t interp);

 private:
  void completeRange(Process &process, Thread &thread, const OpenRange &range, uint64_t endNs, uint8_t flags,
                     EventKind kind);
  bool mapIds(const Process &process, const gw_record &record, uint32_t &domain, uint32_t &message,
              std::string &error) const;
  // A range of another domain into the histograms of NVTX ranges.
  void addToRangeHistograms(Process &process, const OpenRange &range, uint64_t durationNs);
  // A GIL range (or drop-request mark) into what is about time: the per-second series and the
  // sliding-window longest hold. Counts come from the process's totals, never from ranges.
  void addToGilSeries(Process &process, Thread &thread, const OpenRange &range, uint64_t durationNs, uint64_t endNs,
                      EventKind kind);
  ThreadGil &threadGil(Process &process, Thread &thread, int64_t interp);
  // Applies a region's snapshot as a restatement of every thread not folded and the retired
  // sum; `ended`: the process is gone, waiters are none.
  void applyRegion(Process &process, const SharedRegion::Snapshot &snapshot, bool ended, uint64_t serverNowNs);
  // The process is gone: its region holds its final totals, read once, then removed.
  bool finishRegion(Process &process, uint64_t serverNowNs);
  // A process that ended while no server followed it, listed as ended with its region's totals.
  void adoptEnded(std::unique_ptr<SharedRegion> region, uint64_t serverNowNs);
  void addGilIncrease(Process &process, Thread *thread, const gw_gil_totals &increase);
  void addToThreadHistory(Process &process, Thread *thread, const gw_gil_totals &increase);
  // The threads' unplaced figures into their histories, at the sender's `clientNs`.
  void placeThreadHistory(Process &process, uint64_t clientNs);
  void settleRetired(Process &process, uint64_t serverNowNs);
  void retire(Process &process, uint64_t serverNowNs);
  // Ends every range still open (and START ranges never ENDed) at `endNs`: the process left.
  void closeOpenRanges(Process &process, uint64_t endNs);
  // Frees an exited thread's memory and label slot; returns the next thread.
  std::map<uint32_t, std::unique_ptr<Thread>>::iterator forgetThread(
      Process &process, std::map<uint32_t, std::unique_ptr<Thread>>::iterator thread);
  // Makes room for a new thread by forgetting the one that exited first; false if none has.
  bool forgetOldestExited(Process &process);

  // Server ids of the strings the GIL metrics look for.
  uint32_t gilDomain_, holding_, waiting_, dropRequest_;

  NativeStoreOptions options_;
  StringTable strings_; // the entries every process's table starts with
  StoreCounters counters_;
  // Giving freed memory back to the system (sweep).
  static constexpr uint64_t kTrimEveryNs = 10'000'000'000;
  bool trimPending_ = false;
  uint64_t scrapes_ = 0;
  uint64_t lastTrimNs_ = 0;
  std::vector<std::unique_ptr<Process>> processes_;    // in order of arrival
  std::unordered_map<uint64_t, Process *> byInstance_; // the same, by instance id
  size_t retiredCount_ = 0;                            // of them, retired
  // Regions found at start of processes still running, until their HELLO (scanRegions).
  std::unordered_map<uint64_t, std::unique_ptr<SharedRegion>> waitingRegions_;
};

} // namespace gilwatch
