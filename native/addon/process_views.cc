// Views of one process, computed next to the data so that only what the screen (or the
// summary) shows crosses into JavaScript and over the WebSocket:
//   timeline:  per thread lane, ranges in [start, end] downsampled to the pixel width
//              (sub-pixel ranges merged into one item that keeps their count);
//   longHolds: the latest holds above a threshold and who waited during each;
//   series:    per-second GIL figures for the last 5 minutes;
//   threads:   the threads that held the GIL longest, with their totals (the dashboard's table);
//   summary:   per-thread totals and the longest holds, for `gilwatch run` and `report`;
//   processes, process, list, ranges: what the HTTP API and the process picker list.
#include "process_views.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <string_view>

namespace gilwatch {

std::string hex64(uint64_t value) {
  char text[17];
  snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
  return text;
}

// What every view of a process starts with: which process it is, and whether its GIL
// totals are all in ("live", "final", "pending" or "incomplete": NativeStore::totalsState).
static Napi::Object processIdentity(Napi::Env env, const Process &p) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("instance", hex64(p.instance));
  o.Set("pid", p.pid);
  o.Set("ppid", p.ppid);
  o.Set("service", p.service);
  Napi::Array argv = Napi::Array::New(env, p.argv.size());
  for (size_t i = 0; i < p.argv.size(); i++) argv.Set(i, p.argv[i]);
  o.Set("argv", argv);
  o.Set("totals", NativeStore::totalsState(p));
  return o;
}

Napi::Value causeObject(Napi::Env env, const Process &p, const HoldCause *c) {
  if (!c) return env.Null();
  Napi::Object o = Napi::Object::New(env);
  o.Set("final", c->final);
  o.Set("split", c->bracketed ? "bracketed" : "sampled");
  o.Set("sampledFromNs", static_cast<double>(c->sampledFromNs));
  o.Set("sampledNs", static_cast<double>(c->sampledToNs - c->sampledFromNs));
  o.Set("onCpuNs", static_cast<double>(c->onCpuNs));
  o.Set("runqueueNs", static_cast<double>(c->runqueueNs));
  o.Set("blockedNs", static_cast<double>(c->blockedNs));
  o.Set("majorFaults", c->majorFaults);
  o.Set("samples", c->samples);
  Napi::Array blocked = Napi::Array::New(env);
  uint32_t n = 0;
  for (const HoldCause::Blocked &where : c->blockedIn) {
    if (!where.ns) continue;
    Napi::Object b = Napi::Object::New(env);
    b.Set("syscall", where.syscall); // a number here; server/cause.ts names it
    b.Set("waitSite",
          where.waitSite ? Napi::Value(Napi::String::New(env, p.strings.text(where.waitSite))) : env.Null());
    b.Set("ns", static_cast<double>(where.ns));
    blocked.Set(n++, b);
  }
  o.Set("blockedIn", blocked);
  Napi::Array others = Napi::Array::New(env);
  n = 0;
  for (const auto &[syscall, samples] : c->others) {
    if (!samples || !c->otherSamples) continue;
    Napi::Object b = Napi::Object::New(env);
    b.Set("syscall", syscall);
    b.Set("threads", static_cast<double>(samples) / c->otherSamples); // on average, while sampled
    others.Set(n++, b);
  }
  o.Set("others", others);
  Napi::Array frames = Napi::Array::New(env, c->frames.size());
  for (size_t i = 0; i < c->frames.size(); i++) {
    Napi::Object f = Napi::Object::New(env);
    f.Set("function", p.strings.text(c->frames[i].function));
    f.Set("file", p.strings.text(c->frames[i].file));
    f.Set("line", c->frames[i].line);
    frames.Set(i, f);
  }
  o.Set("frames", frames);
  o.Set("stackDepth", c->stackDepth);
  o.Set("framesMissing",
        c->frames.empty() && (c->framesMissing & GW_CAUSE_FRAMES_LOCKED) ? Napi::Value(Napi::String::New(env, "locked"))
        : c->frames.empty() && (c->framesMissing & GW_CAUSE_FRAMES_LATE) ? Napi::Value(Napi::String::New(env, "late"))
        : c->frames.empty() && (c->framesMissing & GW_CAUSE_FRAMES_UNSEEN)
            ? Napi::Value(Napi::String::New(env, "unseen"))
            : env.Null());
  return o;
}

namespace {

struct Item {
  double start, end;
  uint32_t flags; // the KIND column: LaneKind, | kTimelineOpen while still open
  double count;
  double busyNs; // time covered by the merged ranges
  uint32_t message;
};

// Merges sub-pixel ranges of one kind that are within a pixel of each other.
class LaneBuilder {
 public:
  explicit LaneBuilder(double pxNs) : pxNs_(pxNs) {}
  void add(const Item &item) {
    size_t k = item.flags & kTimelineKindMask;
    double duration = item.end - item.start;
    if (duration < pxNs_ && last_[k] >= 0) {
      Item &prev = items_[static_cast<size_t>(last_[k])];
      if (!(prev.flags & kTimelineOpen) && item.start <= prev.end + pxNs_ && item.message == prev.message) {
        prev.end = std::max(prev.end, item.end);
        prev.count += item.count;
        prev.busyNs += item.busyNs;
        return;
      }
    }
    items_.push_back(item);
    last_[k] = duration < pxNs_ ? static_cast<long>(items_.size() - 1) : -1;
  }
  std::vector<Item> &items() { return items_; }

 private:
  double pxNs_;
  std::vector<Item> items_;
  std::array<long, kLaneKinds> last_ = {-1, -1, -1};
};

// Strings of a response, sent once, referenced by index. Index 0 is "": no one name (a
// density bin counts ranges of any name).
class StringIndex {
 public:
  static constexpr uint32_t kNoName = 0;
  explicit StringIndex(const StringTable &strings) : strings_(strings) {}
  uint32_t of(uint32_t id) {
    auto found = index_.find(id);
    if (found != index_.end()) return found->second;
    uint32_t i = static_cast<uint32_t>(order_.size() + 1);
    order_.push_back(id);
    index_.emplace(id, i);
    return i;
  }
  Napi::Array toArray(Napi::Env env) const {
    Napi::Array out = Napi::Array::New(env, order_.size() + 1);
    out.Set(kNoName, "");
    for (size_t i = 0; i < order_.size(); i++) out.Set(i + 1, strings_.text(order_[i]));
    return out;
  }

 private:
  const StringTable &strings_;
  std::unordered_map<uint32_t, uint32_t> index_;
  std::vector<uint32_t> order_;
};

} // namespace

Napi::Value timelineView(Napi::Env env, const NativeStore &store, const Process &p, uint64_t clientNow, double startNs,
                         double endNs, double pxNs) {
  pxNs = std::max(pxNs, 1.0);
  StringIndex strings(p.strings);
  Napi::Array lanes = Napi::Array::New(env);
  uint32_t laneCount = 0;
  for (const auto &[id, threadPtr] : p.threads) {
    const Thread &t = *threadPtr;
    if (static_cast<double>(t.lastEndNs) < startNs && t.open.empty() && t.recent.size() == 0) continue;
    LaneBuilder lane(pxNs);
    // Where the raw ring's coverage begins: older time comes from density bins and the
    // exactly kept long ranges.
    double rawFrom =
        t.recent.pushed() > t.recent.size() && t.recent.size() ? static_cast<double>(t.recent.at(0).endNs) : 0;
    if (startNs < rawFrom) {
      double until = std::min(endNs, rawFrom);
      uint64_t firstBin = static_cast<uint64_t>(std::max(0.0, startNs)) / kBinNs;
      uint64_t lastBin = static_cast<uint64_t>(until) / kBinNs;
      uint64_t binsPerItem = std::max<uint64_t>(1, static_cast<uint64_t>(pxNs / kBinNs));
      for (uint64_t b = firstBin; b <= lastBin; b += binsPerItem) {
        for (size_t k = 0; k < kLaneKinds; k++) {
          double busy = 0, count = 0;
          for (uint64_t i = b; i < b + binsPerItem && i <= lastBin; i++) {
            if (const DensityBin *bin = t.density.at(i)) {
              busy += bin->busyUs[k] * 1000.0;
              count += bin->count[k];
            }
          }
          if (count > 0) {
            double from = static_cast<double>(b * kBinNs),
                   to = static_cast<double>(std::min(b + binsPerItem, lastBin + 1) * kBinNs);
            lane.add(Item{from, to, static_cast<uint32_t>(k), count, busy, StringIndex::kNoName});
          }
        }
      }
      for (size_t i = 0; i < t.significant.size(); i++) {
        const RecentRange &r = t.significant.at(i);
        if (static_cast<double>(r.endNs) < startNs || static_cast<double>(r.startNs) > until) continue;
        lane.add(Item{static_cast<double>(r.startNs), static_cast<double>(r.endNs),
                      static_cast<uint32_t>(store.laneOf(r.domain, r.message)), 1,
                      static_cast<double>(r.endNs - r.startNs), strings.of(r.message)});
      }
    }
    // The raw ring, newest first until before the window (entries are in end order).
    std::vector<const RecentRange *> raw;
    for (size_t i = t.recent.size(); i-- > 0;) {
      const RecentRange &r = t.recent.at(i);
      if (static_cast<double>(r.endNs) < std::max(startNs, rawFrom)) break;
      if (r.kind == EventKind::Range && static_cast<double>(r.startNs) <= endNs) raw.push_back(&r);
    }
    for (size_t i = raw.size(); i-- > 0;) {
      const RecentRange &r = *raw[i];
      lane.add(Item{static_cast<double>(r.startNs), static_cast<double>(r.endNs),
                    static_cast<uint32_t>(store.laneOf(r.domain, r.message)), 1,
                    static_cast<double>(r.endNs - r.startNs), strings.of(r.message)});
    }
    for (const OpenRange &o : t.open) {
      if (static_cast<double>(o.startNs) > endNs) continue;
      double until = static_cast<double>(std::max(clientNow, o.startNs));
      lane.add(Item{static_cast<double>(o.startNs), until,
                    static_cast<uint32_t>(store.laneOf(o.domain, o.message)) | kTimelineOpen, 1,
                    until - static_cast<double>(o.startNs), strings.of(o.message)});
    }
    auto &items = lane.items();
    if (items.empty()) continue;
    // One row of TimelineItem::kFields per item (view_layout.h), as one Float64Array.
    Napi::Float64Array data = Napi::Float64Array::New(env, items.size() * TimelineItem::kFields);
    for (size_t i = 0; i < items.size(); i++) {
      const Item &it = items[i];
      double span = it.end - it.start;
      double *row = data.Data() + i * TimelineItem::kFields;
      row[TimelineItem::Start] = it.start;
      row[TimelineItem::End] = it.end;
      row[TimelineItem::Kind] = it.flags;
      row[TimelineItem::Count] = it.count;
      row[TimelineItem::Fill] = span > 0 ? std::min(1.0, it.busyNs / span) : 1.0;
      row[TimelineItem::Message] = it.message;
    }
    Napi::Object lo = Napi::Object::New(env);
    lo.Set("thread", t.id);
    lo.Set("tid", t.tid);
    lo.Set("name", t.name);
    lo.Set("exited", t.exited);
    lo.Set("items", data);
    lanes.Set(laneCount++, lo);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("startNs", startNs);
  out.Set("endNs", endNs);
  out.Set("nowNs", static_cast<double>(clientNow));
  out.Set("wallAtStartMs", p.wallMs(static_cast<uint64_t>(std::max(0.0, startNs))));
  out.Set("lanes", lanes);
  out.Set("strings", strings.toArray(env));
  return out;
}

Napi::Value longHoldsView(Napi::Env env, const NativeStore &store, const Process &p, uint64_t clientNow,
                          double thresholdNs, uint32_t limit) {
  struct Hold {
    const Thread *thread;
    uint64_t start, end;
    bool ongoing;
    int64_t interp;
  };
  std::vector<Hold> holds;
  for (const auto &[id, t] : p.threads) {
    for (size_t i = 0; i < t->significant.size(); i++) {
      const RecentRange &r = t->significant.at(i);
      if (r.kind == EventKind::Range && r.domain == store.gilDomain() && r.message == store.holdingId() &&
          static_cast<double>(r.endNs - r.startNs) >= thresholdNs)
        holds.push_back(Hold{t.get(), r.startNs, r.endNs, false, NativeStore::interpOf(r.payloadType, r.payload)});
    }
    for (const OpenRange &o : t->open) {
      if (o.domain == store.gilDomain() && o.message == store.holdingId() && clientNow > o.startNs &&
          static_cast<double>(clientNow - o.startNs) >= thresholdNs)
        holds.push_back(Hold{t.get(), o.startNs, clientNow, true, NativeStore::interpOf(o.payloadType, o.payload)});
    }
  }
  std::sort(holds.begin(), holds.end(), [](const Hold &a, const Hold &b) { return a.start > b.start; });
  if (holds.size() > limit) holds.resize(limit);

  Napi::Array out = Napi::Array::New(env, holds.size());
  for (size_t h = 0; h < holds.size(); h++) {
    const Hold &hold = holds[h];
    // Who waited meanwhile: every other thread's waits that overlap the hold.
    Napi::Array waiters = Napi::Array::New(env);
    uint32_t w = 0;
    for (const auto &[id, t] : p.threads) {
      if (t.get() == hold.thread) continue;
      uint64_t waited = 0;
      auto overlap = [&](uint64_t s, uint64_t e) {
        uint64_t from = std::max(s, hold.start), to = std::min(e, hold.end);
        return to > from ? to - from : 0;
      };
      // Long waits are kept exactly; short ones only while they are in the raw ring.
      uint64_t rawFrom = t->recent.size() ? t->recent.at(0).startNs : 0;
      for (size_t i = 0; i < t->significant.size(); i++) {
        const RecentRange &r = t->significant.at(i);
        if (r.domain == store.gilDomain() && r.message == store.waitingId() && r.startNs < rawFrom)
          waited += overlap(r.startNs, r.endNs);
      }
      for (size_t i = t->recent.size(); i-- > 0;) {
        const RecentRange &r = t->recent.at(i);
        if (r.endNs < hold.start) break;
        if (r.kind == EventKind::Range && r.domain == store.gilDomain() && r.message == store.waitingId())
          waited += overlap(r.startNs, r.endNs);
      }
      for (const OpenRange &o : t->open)
        if (o.domain == store.gilDomain() && o.message == store.waitingId()) waited += overlap(o.startNs, clientNow);
      if (waited == 0) continue;
      Napi::Object wo = Napi::Object::New(env);
      wo.Set("thread", t->id);
      wo.Set("name", t->name);
      wo.Set("waitedNs", static_cast<double>(waited));
      waiters.Set(w++, wo);
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("thread", hold.thread->id);
    o.Set("tid", hold.thread->tid);
    o.Set("name", hold.thread->name);
    o.Set("interp", static_cast<double>(hold.interp));
    o.Set("startNs", static_cast<double>(hold.start));
    o.Set("endNs", static_cast<double>(hold.end));
    o.Set("durationNs", static_cast<double>(hold.end - hold.start));
    o.Set("startMs", p.wallMs(hold.start));
    o.Set("ongoing", hold.ongoing);
    o.Set("waiters", waiters);
    o.Set("cause", causeObject(env, p, hold.thread->causeOf(hold.start)));
    out.Set(h, o);
  }
  return out;
}

Napi::Value seriesView(Napi::Env env, const Process &p, uint64_t clientNow, uint64_t fromSecond) {
  uint64_t nowSecond = clientNow / 1'000'000'000;
  uint64_t first =
      std::max<uint64_t>(fromSecond, nowSecond >= SecondSeries::kSeconds ? nowSecond - SecondSeries::kSeconds + 1 : 0);
  first = std::max<uint64_t>(first, p.helloMonotonicNs / 1'000'000'000); // nothing before the process came
  // The current second is incomplete while the process runs; once it left, it is final.
  uint64_t end = p.state == ProcessState::Connected ? nowSecond : nowSecond + 1;
  Napi::Array gils = Napi::Array::New(env);
  uint32_t g = 0;
  for (const SecondSeries &series : p.seconds) {
    int64_t interp = series.interp;
    // One row of SeriesColumn::kColumns per second (view_layout.h).
    constexpr size_t columns = SeriesColumn::kColumns;
    std::vector<double> rows;
    for (uint64_t second = first; second < end; second++) {
      const SecondSample *s = series.find(second);
      SecondSample empty;
      if (!s) s = &empty;
      std::array<double, columns> row{};
      row[SeriesColumn::Wall] = p.wallMs(second * 1'000'000'000);
      row[SeriesColumn::Held] = static_cast<double>(s->holdNs) / 1e9;
      row[SeriesColumn::Waiting] = static_cast<double>(s->waitNs) / 1e9;
      row[SeriesColumn::Acquisitions] = static_cast<double>(s->acquisitions);
      row[SeriesColumn::HoldP50] = bucketQuantile(s->holdBuckets, 0.5) / 1e9;
      row[SeriesColumn::HoldP99] = bucketQuantile(s->holdBuckets, 0.99) / 1e9;
      row[SeriesColumn::HoldMax] = static_cast<double>(s->holdMaxNs) / 1e9;
      row[SeriesColumn::WaitP50] = bucketQuantile(s->waitBuckets, 0.5) / 1e9;
      row[SeriesColumn::WaitP99] = bucketQuantile(s->waitBuckets, 0.99) / 1e9;
      row[SeriesColumn::WaitMax] = static_cast<double>(s->waitMaxNs) / 1e9;
      row[SeriesColumn::DropRequests] = static_cast<double>(s->dropRequests);
      rows.insert(rows.end(), row.begin(), row.end());
    }
    Napi::Float64Array data = Napi::Float64Array::New(env, rows.size());
    std::copy(rows.begin(), rows.end(), data.Data());
    Napi::Object o = Napi::Object::New(env);
    o.Set("interp", static_cast<double>(interp));
    o.Set("firstSecond", static_cast<double>(first));
    o.Set("columns", static_cast<double>(columns));
    o.Set("rows", data);
    gils.Set(g++, o);
  }
  return gils;
}

namespace {

bool usedGil(const Thread &t) { return t.holds.count != 0 || t.waits.count != 0; }

// One thread's GIL figures since the process connected, all GILs together: a row of the run
// summary and of the dashboard's thread table (server/views.ts: ThreadFigures).
Napi::Object threadFigures(Napi::Env env, const Process &p, const Thread &t) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("thread", t.id);
  o.Set("tid", t.tid);
  o.Set("name", t.name);
  o.Set("exited", t.exited);
  o.Set("holdNs", static_cast<double>(t.holds.sumNs));
  o.Set("waitNs", static_cast<double>(t.waits.sumNs));
  o.Set("acquisitions", static_cast<double>(t.holds.count));
  o.Set("waits", static_cast<double>(t.waits.count));
  o.Set("longestHoldNs", static_cast<double>(t.longestHoldNs));
  o.Set("longestHoldStartMs", t.longestHoldNs ? p.wallMs(t.longestHoldStartNs) : 0.0);
  // Interpolated within a bucket, never past the largest value seen.
  auto quantile = [](const DurationHistogram &h, double q) {
    return std::min(bucketQuantile(h.counts, q), static_cast<double>(h.maxNs));
  };
  o.Set("holdP50Ns", quantile(t.holds, 0.5));
  o.Set("holdP99Ns", quantile(t.holds, 0.99));
  o.Set("waitP50Ns", quantile(t.waits, 0.5));
  o.Set("waitP99Ns", quantile(t.waits, 0.99));
  return o;
}

} // namespace

Napi::Value threadsView(Napi::Env env, const Process &p, uint64_t clientNow, uint32_t limit) {
  std::vector<const Thread *> used;
  for (const auto &[id, t] : p.threads)
    if (usedGil(*t)) used.push_back(t.get());
  // Most held first; ties by the sender's thread id, so the order does not flicker.
  auto order = [](const Thread *a, const Thread *b) {
    return a->holds.sumNs != b->holds.sumNs ? a->holds.sumNs > b->holds.sumNs : a->id < b->id;
  };
  size_t shown = std::min<size_t>(limit, used.size());
  std::partial_sort(used.begin(), used.begin() + static_cast<long>(shown), used.end(), order);
  Napi::Array threads = Napi::Array::New(env, shown);
  for (size_t i = 0; i < shown; i++) threads.Set(i, threadFigures(env, p, *used[i]));
  Napi::Object out = Napi::Object::New(env);
  out.Set("durationNs", static_cast<double>(clientNow > p.helloMonotonicNs ? clientNow - p.helloMonotonicNs : 0));
  out.Set("total", static_cast<double>(used.size()));
  out.Set("threads", threads);
  return out;
}

Napi::Value summaryView(Napi::Env env, const NativeStore &store, const Process &p, uint64_t clientNow,
                        uint32_t topHolds) {
  Napi::Object out = processIdentity(env, p);
  out.Set("startMs", p.wallMs(p.helloMonotonicNs));
  out.Set("durationNs", static_cast<double>(clientNow > p.helloMonotonicNs ? clientNow - p.helloMonotonicNs : 0));
  out.Set("droppedEvents", static_cast<double>(p.droppedEvents));
  Napi::Array threads = Napi::Array::New(env);
  uint32_t n = 0;
  std::vector<std::pair<const Thread *, const RecentRange *>> holds;
  for (const auto &[id, t] : p.threads) {
    for (size_t i = 0; i < t->significant.size(); i++) {
      const RecentRange &r = t->significant.at(i);
      if (r.domain == store.gilDomain() && r.message == store.holdingId()) holds.emplace_back(t.get(), &r);
    }
    if (usedGil(*t)) threads.Set(n++, threadFigures(env, p, *t));
  }
  out.Set("threads", threads);
  std::sort(holds.begin(), holds.end(), [](const auto &a, const auto &b) {
    return a.second->endNs - a.second->startNs > b.second->endNs - b.second->startNs;
  });
  if (holds.size() > topHolds) holds.resize(topHolds);
  Napi::Array top = Napi::Array::New(env, holds.size());
  for (size_t i = 0; i < holds.size(); i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", holds[i].first->name);
    o.Set("tid", holds[i].first->tid);
    o.Set("startMs", p.wallMs(holds[i].second->startNs));
    o.Set("durationNs", static_cast<double>(holds[i].second->endNs - holds[i].second->startNs));
    o.Set("cause", causeObject(env, p, holds[i].first->causeOf(holds[i].second->startNs)));
    top.Set(i, o);
  }
  out.Set("longestHolds", top);
  return out;
}

// ---- What the HTTP API lists (addon.cc: processes, process, list, ranges) ----

namespace {

const char *stateName(ProcessState state) {
  switch (state) {
    case ProcessState::Connected: return "connected";
    case ProcessState::Disconnected: return "disconnected";
    case ProcessState::Retired: return "retired";
  }
  return "unknown";
}

Napi::Value payloadValue(Napi::Env env, uint8_t type, uint64_t bits) {
  switch (type) {
    case GW_PAYLOAD_UINT64: return Napi::Number::New(env, static_cast<double>(bits));
    case GW_PAYLOAD_INT64: return Napi::Number::New(env, static_cast<double>(static_cast<int64_t>(bits)));
    case GW_PAYLOAD_DOUBLE: {
      double value;
      std::memcpy(&value, &bits, sizeof value);
      return Napi::Number::New(env, value);
    }
    default: return env.Null();
  }
}

// What is left of IngestLimits::apiResponseBytes while one answer is built. Sizes are the
// JSON's: text as escaped, plus a fixed allowance per object for its keys and numbers.
class ResponseBudget {
 public:
  explicit ResponseBudget(size_t bytes) : left_(bytes) {}
  bool take(size_t bytes) {
    if (bytes > left_) return !(spent_ = true);
    left_ -= bytes;
    return true;
  }
  bool spent() const { return spent_; } // something did not fit

 private:
  size_t left_;
  bool spent_ = false;
};
constexpr size_t kProcessJsonBytes = 450, kThreadJsonBytes = 130, kRangeJsonBytes = 140, kOpenJsonBytes = 200;

size_t jsonBytes(std::string_view text) {
  size_t bytes = 2; // the quotes
  for (unsigned char c : text) bytes += c < 0x20 ? 6 : (c == '"' || c == '\\') ? 2 : 1;
  return bytes;
}

// Bounded per process (IngestLimits::api*) and in all (apiResponseBytes): a process with
// thousands of threads or keys says how many it left out rather than growing every
// response. Returns an empty handle when not even the process itself fits in `budget`.
Napi::Object processObject(Napi::Env env, const NativeStore &store, const Process &p, uint64_t now,
                           ResponseBudget &budget) {
  const StringTable &strings = p.strings;
  const IngestLimits &limits = store.limits();
  size_t header = kProcessJsonBytes + jsonBytes(p.service) + jsonBytes(p.executable);
  for (const std::string &a : p.argv) header += jsonBytes(a) + 4;
  if (!budget.take(header)) return Napi::Object();
  Napi::Object o = processIdentity(env, p);
  o.Set("executable", p.executable);
  o.Set("state", stateName(p.state));
  o.Set("connectedAtMs", p.wallMs(p.helloMonotonicNs));
  uint64_t clientNow = p.state == ProcessState::Connected ? p.clientNowNs(now) : p.clientNowNs(p.disconnectedServerNs);
  o.Set("clientNowNs", static_cast<double>(clientNow));
  o.Set("nowMs", p.wallMs(clientNow));
  o.Set("droppedEvents", static_cast<double>(p.droppedEvents));
  o.Set("unmatchedPops", static_cast<double>(p.unmatchedPops));
  o.Set("rangesReceived", static_cast<double>(p.rangesReceived));
  Napi::Array threads = Napi::Array::New(env);
  uint32_t listed = 0;
  for (const auto &[id, thread] : p.threads) {
    const Thread &t = *thread;
    size_t totalsListed = std::min(t.totals.size(), limits.apiRangesPerThread);
    size_t cost = kThreadJsonBytes + jsonBytes(t.name);
    for (size_t k = 0; k < totalsListed; k++)
      cost += kRangeJsonBytes + jsonBytes(strings.text(t.totals[k].first.domain)) +
              jsonBytes(strings.text(t.totals[k].first.message));
    for (const OpenRange &r : t.open)
      cost += kOpenJsonBytes + jsonBytes(strings.text(r.domain)) + jsonBytes(strings.text(r.message));
    if (listed >= limits.apiThreadsPerProcess || !budget.take(cost)) break;
    Napi::Object to = Napi::Object::New(env);
    to.Set("id", t.id);
    to.Set("tid", t.tid);
    to.Set("name", t.name);
    to.Set("exited", t.exited);
    Napi::Array totals = Napi::Array::New(env, totalsListed);
    to.Set("rangesOmitted", static_cast<double>(t.totals.size() - totalsListed));
    for (size_t k = 0; k < totalsListed; k++) {
      const auto &[key, value] = t.totals[k];
      Napi::Object r = Napi::Object::New(env);
      r.Set("domain", strings.text(key.domain));
      r.Set("message", strings.text(key.message));
      r.Set("kind", key.kind == EventKind::Mark ? "mark" : "range");
      r.Set("count", static_cast<double>(value.count));
      r.Set("totalNs", static_cast<double>(value.totalNs));
      r.Set("maxNs", static_cast<double>(value.maxNs));
      totals.Set(k, r);
    }
    to.Set("ranges", totals);
    Napi::Array open = Napi::Array::New(env, t.open.size());
    for (size_t k = 0; k < t.open.size(); k++) {
      const OpenRange &r = t.open[k];
      Napi::Object ro = Napi::Object::New(env);
      ro.Set("domain", strings.text(r.domain));
      ro.Set("message", strings.text(r.message));
      ro.Set("depth", r.depth);
      ro.Set("startNs", static_cast<double>(r.startNs));
      ro.Set("startMs", p.wallMs(r.startNs));
      ro.Set("ageNs", static_cast<double>(clientNow > r.startNs ? clientNow - r.startNs : 0));
      ro.Set("payload", payloadValue(env, r.payloadType, r.payload));
      open.Set(k, ro);
    }
    to.Set("open", open);
    threads.Set(listed++, to);
  }
  o.Set("threads", threads);
  o.Set("threadsOmitted", static_cast<double>(p.threads.size() - listed));
  return o;
}

} // namespace

// /api/processes: processes in order until the response budget is spent (the last one listed
// may lack threads), the rest counted. -> {processes, processesOmitted}
Napi::Value processesView(Napi::Env env, const NativeStore &store, uint64_t now) {
  ResponseBudget budget(store.limits().apiResponseBytes);
  Napi::Array list = Napi::Array::New(env);
  uint32_t listed = 0;
  size_t omitted = 0;
  for (const auto &process : store.processes()) {
    Napi::Object o = budget.spent() ? Napi::Object() : processObject(env, store, *process, now, budget);
    if (o.IsEmpty()) {
      omitted++;
    } else {
      list.Set(listed++, o);
    }
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("processes", list);
  result.Set("processesOmitted", static_cast<double>(omitted));
  return result;
}

Napi::Value processView(Napi::Env env, const NativeStore &store, const Process &p, uint64_t now) {
  ResponseBudget budget(store.limits().apiResponseBytes);
  Napi::Object o = processObject(env, store, p, now, budget);
  return o.IsEmpty() ? env.Null() : Napi::Value(o);
}

Napi::Value processListView(Napi::Env env, const NativeStore &store) {
  const auto &processes = store.processes();
  Napi::Array list = Napi::Array::New(env, processes.size());
  for (size_t i = 0; i < processes.size(); i++) {
    const Process &p = *processes[i];
    Napi::Object o = processIdentity(env, p);
    o.Set("state", stateName(p.state));
    o.Set("connectedAtMs", p.wallMs(p.helloMonotonicNs));
    o.Set("droppedEvents", static_cast<double>(p.droppedEvents));
    o.Set("rangesReceived", static_cast<double>(p.rangesReceived));
    o.Set("threads", static_cast<double>(p.threads.size()));
    list.Set(i, o);
  }
  return list;
}

Napi::Value rangesView(Napi::Env env, const Process &process, int64_t onlyThread, double sinceNs, size_t offset,
                       size_t limit) {
  const Process *p = &process;
  const StringTable &strings = p->strings;
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  size_t skipped = 0;
  for (const auto &[id, t] : p->threads) {
    if (onlyThread >= 0 && t->id != static_cast<uint32_t>(onlyThread)) continue;
    for (size_t i = 0; i < t->recent.size() && n < limit; i++) {
      const RecentRange &r = t->recent.at(i);
      if (static_cast<double>(r.endNs) < sinceNs) continue;
      if (skipped < offset) {
        skipped++;
        continue;
      }
      Napi::Object o = Napi::Object::New(env);
      o.Set("thread", t->id);
      o.Set("tid", t->tid);
      o.Set("domain", strings.text(r.domain));
      o.Set("message", strings.text(r.message));
      o.Set("kind", r.kind == EventKind::Mark ? "mark" : "range");
      o.Set("depth", r.depth);
      o.Set("startNs", static_cast<double>(r.startNs));
      o.Set("endNs", static_cast<double>(r.endNs));
      o.Set("durationNs", static_cast<double>(r.endNs - r.startNs));
      o.Set("startMs", p->wallMs(r.startNs));
      o.Set("closedBy", (r.flags & GW_FLAG_CLOSED_BY_THREAD_EXIT) ? "thread-exit"
                        : (r.flags & kFlagClosedAtDisconnect)     ? "disconnect"
                                                                  : "pop");
      o.Set("payload", payloadValue(env, r.payloadType, r.payload));
      out.Set(n++, o);
    }
  }
  return out;
}

} // namespace gilwatch
