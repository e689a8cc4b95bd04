// Views of one process as JavaScript, computed next to the data so that only what the screen
// (or the summary) shows crosses into JavaScript and over the WebSocket. The timeline, long
// holds and series are computed as plain data (timeline.cc, long_holds.cc, series_rows.cc);
// the rest is read straight from the store:
//   timeline:    per thread lane, ranges in [start, end] downsampled to the pixel width
//                (sub-pixel ranges merged into one item that keeps their count);
//   longHolds:   the latest holds above a threshold and who waited during each;
//   worstHolds:  the longest of the run, and the timeline kept around each;
//   series:      the GIL's figures per second (live), or a range of the history's tiers;
//   threads:     the threads that held the GIL longest, with their totals (the dashboard's table);
//   summary:     per-thread totals and the longest holds, for `gilwatch run` and `report`.
// What the HTTP API lists (processes, process, list, ranges) is api_views.cc's.
#include "process_views.h"

#include "long_holds.h"
#include "series_rows.h"
#include "thread_table.h"
#include "timeline.h"

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
Napi::Object processIdentity(Napi::Env env, const Process &p) {
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
    b.Set("syscall", where.syscall); // a number here; server/shared/cause.ts names it
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

// A timeline as the dashboard's TimelineMessage expects it (server/shared/views.ts).
static Napi::Value timelineObject(Napi::Env env, const Process &p, const Timeline &timeline, double startNs,
                                  double endNs, uint64_t clientNow) {
  Napi::Array lanes = Napi::Array::New(env, timeline.lanes.size());
  for (size_t l = 0; l < timeline.lanes.size(); l++) {
    const TimelineLane &lane = timeline.lanes[l];
    // One row of TimelineItem::kFields per item (view_layout.h), as one Float64Array.
    Napi::Float64Array data = Napi::Float64Array::New(env, lane.items.size() * TimelineItem::kFields);
    for (size_t i = 0; i < lane.items.size(); i++) {
      const TimelineEntry &it = lane.items[i];
      double *row = data.Data() + i * TimelineItem::kFields;
      row[TimelineItem::Start] = it.start;
      row[TimelineItem::End] = it.end;
      row[TimelineItem::Kind] = it.flags;
      row[TimelineItem::Count] = it.count;
      row[TimelineItem::Fill] = it.fill();
      row[TimelineItem::Message] = it.message;
    }
    Napi::Object lo = Napi::Object::New(env);
    lo.Set("thread", lane.thread);
    lo.Set("tid", lane.tid);
    lo.Set("name", lane.name);
    lo.Set("exited", lane.exited);
    lo.Set("items", data);
    lanes.Set(l, lo);
  }
  Napi::Array strings = Napi::Array::New(env, timeline.messages.size());
  strings.Set(uint32_t{0}, "");
  for (size_t i = 1; i < timeline.messages.size(); i++) strings.Set(i, p.strings.text(timeline.messages[i]));
  Napi::Object out = Napi::Object::New(env);
  out.Set("startNs", startNs);
  out.Set("endNs", endNs);
  out.Set("nowNs", static_cast<double>(clientNow));
  // A client's startNs may be any number: the wall time is computed in doubles, never cast.
  out.Set("wallAtStartMs", (static_cast<double>(p.helloRealtimeNs) +
                            (std::max(0.0, startNs) - static_cast<double>(p.helloMonotonicNs))) /
                               1e6);
  out.Set("lanes", lanes);
  out.Set("lanesOmitted", static_cast<double>(timeline.lanesOmitted));
  out.Set("strings", strings);
  return out;
}

Napi::Value timelineView(Napi::Env env, const NativeStore &store, const Process &p, uint64_t clientNow, double startNs,
                         double endNs, double pxNs) {
  return timelineObject(env, p, computeTimeline(store, p, clientNow, startNs, endNs, pxNs), startNs, endNs, clientNow);
}

Napi::Value longHoldsView(Napi::Env env, const NativeStore &store, const Process &p, uint64_t clientNow,
                          double thresholdNs, uint32_t limit) {
  std::vector<LongHold> holds = computeLongHolds(store, p, clientNow, thresholdNs, limit);
  Napi::Array out = Napi::Array::New(env, holds.size());
  for (size_t h = 0; h < holds.size(); h++) {
    const LongHold &hold = holds[h];
    Napi::Array waiters = Napi::Array::New(env, hold.waiters.size());
    for (size_t w = 0; w < hold.waiters.size(); w++) {
      Napi::Object wo = Napi::Object::New(env);
      wo.Set("thread", hold.waiters[w].thread->id);
      wo.Set("name", hold.waiters[w].thread->name);
      wo.Set("waitedNs", static_cast<double>(hold.waiters[w].waitedNs));
      waiters.Set(w, wo);
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("thread", hold.thread->id);
    o.Set("tid", hold.thread->tid);
    o.Set("name", hold.thread->name);
    o.Set("interp", static_cast<double>(hold.interp));
    o.Set("startNs", static_cast<double>(hold.startNs));
    o.Set("endNs", static_cast<double>(hold.endNs));
    o.Set("durationNs", static_cast<double>(hold.endNs - hold.startNs));
    o.Set("startMs", p.wallMs(hold.startNs));
    o.Set("ongoing", hold.ongoing);
    o.Set("waiters", waiters);
    o.Set("cause", causeObject(env, p, hold.cause));
    out.Set(h, o);
  }
  return out;
}

Napi::Object worstHoldObject(Napi::Env env, const Process &p, const WorstHold &hold) {
  Napi::Array waiters = Napi::Array::New(env, hold.waiters.size());
  for (size_t w = 0; w < hold.waiters.size(); w++) {
    Napi::Object wo = Napi::Object::New(env);
    wo.Set("thread", hold.waiters[w].thread);
    wo.Set("name", hold.waiters[w].name);
    wo.Set("waitedNs", static_cast<double>(hold.waiters[w].waitedNs));
    waiters.Set(w, wo);
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", hold.id);
  o.Set("thread", hold.thread);
  o.Set("tid", hold.tid);
  o.Set("name", hold.name);
  o.Set("interp", static_cast<double>(hold.interp));
  o.Set("startNs", static_cast<double>(hold.startNs));
  o.Set("endNs", static_cast<double>(hold.endNs));
  o.Set("durationNs", static_cast<double>(hold.endNs - hold.startNs));
  o.Set("startMs", p.wallMs(hold.startNs));
  o.Set("ongoing", false);
  o.Set("settled", hold.settled);
  o.Set("hasTimeline", hold.snapshot != nullptr);
  o.Set("waiters", waiters);
  o.Set("waitersOmitted", hold.waitersOmitted);
  o.Set("cause", causeObject(env, p, hold.hasCause ? &hold.cause : nullptr));
  return o;
}

Napi::Value worstHoldsView(Napi::Env env, const Process &p, uint32_t limit) {
  std::vector<const WorstHold *> holds;
  for (const WorstHold &h : p.worstHolds) holds.push_back(&h);
  std::sort(holds.begin(), holds.end(), longerHold);
  if (holds.size() > limit) holds.resize(limit);
  Napi::Array out = Napi::Array::New(env, holds.size());
  for (size_t h = 0; h < holds.size(); h++) out.Set(h, worstHoldObject(env, p, *holds[h]));
  return out;
}

Napi::Value worstHoldTimelineView(Napi::Env env, const Process &p, uint32_t id) {
  for (const WorstHold &hold : p.worstHolds) {
    if (hold.id != id || !hold.snapshot) continue;
    double from = static_cast<double>(hold.startNs > kWorstMarginNs ? hold.startNs - kWorstMarginNs : 0);
    return timelineObject(env, p, *hold.snapshot, from, static_cast<double>(hold.endNs + kWorstMarginNs),
                          hold.snapshotNowNs);
  }
  return env.Null();
}

static Napi::Value seriesObject(Napi::Env env, const std::vector<GilSeriesRows> &tables) {
  Napi::Array gils = Napi::Array::New(env, tables.size());
  for (size_t g = 0; g < tables.size(); g++) {
    Napi::Float64Array data = Napi::Float64Array::New(env, tables[g].rows.size());
    std::copy(tables[g].rows.begin(), tables[g].rows.end(), data.Data());
    Napi::Object o = Napi::Object::New(env);
    o.Set("interp", static_cast<double>(tables[g].interp));
    o.Set("firstSecond", static_cast<double>(tables[g].firstSlot * tables[g].widthS));
    o.Set("widthS", static_cast<double>(tables[g].widthS));
    o.Set("columns", static_cast<double>(SeriesColumn::kColumns));
    o.Set("rows", data);
    gils.Set(g, o);
  }
  return gils;
}

Napi::Value seriesView(Napi::Env env, const Process &p, uint64_t clientNow, uint64_t fromSecond) {
  return seriesObject(env, computeSeries(p, clientNow, fromSecond));
}

Napi::Value seriesRangeView(Napi::Env env, const Process &p, uint64_t clientNow, uint64_t rangeS, uint32_t maxPoints) {
  return seriesObject(env, computeSeriesRange(p, clientNow, rangeS, maxPoints));
}

namespace {

bool usedGil(const Thread &t) { return t.holds.count != 0 || t.waits.count != 0; }

// One thread's GIL figures since the process connected, all GILs together: a row of the run
// summary and of the dashboard's thread table (server/shared/views.ts: ThreadFigures).
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

Napi::Value threadsRangeView(Napi::Env env, const Process &p, uint64_t clientNow, double fromNs, double toNs,
                             uint32_t limit) {
  auto clamp = [](double ns) { return ns <= 0 ? uint64_t{0} : ns >= 1.8e19 ? UINT64_MAX : static_cast<uint64_t>(ns); };
  ThreadTable table = computeThreadTable(p, clientNow, clamp(fromNs), clamp(toNs), limit);
  Napi::Array threads = Napi::Array::New(env, table.rows.size());
  for (size_t i = 0; i < table.rows.size(); i++) {
    const ThreadTableRow &row = table.rows[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("thread", row.thread ? row.thread->id : 0);
    o.Set("tid", row.thread ? row.thread->tid : 0);
    o.Set("name", row.thread ? row.thread->name : std::string());
    o.Set("exited", row.thread ? row.thread->exited : true);
    if (!row.thread) o.Set("forgottenThreads", p.forgottenThreadCount); // the unlisted threads' row
    o.Set("holdNs", static_cast<double>(row.sum.holdNs));
    o.Set("waitNs", static_cast<double>(row.sum.waitNs));
    o.Set("acquisitions", static_cast<double>(row.sum.holds));
    o.Set("waits", static_cast<double>(row.sum.waits));
    o.Set("longestHoldNs", static_cast<double>(row.sum.longestHoldNs));
    o.Set("longestHoldStartMs", row.sum.longestHoldNs ? p.wallMs(row.sum.longestHoldStartNs) : 0.0);
    threads.Set(i, o);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("durationNs", static_cast<double>(table.toNs - table.fromNs));
  out.Set("fromMs", p.wallMs(table.fromNs));
  out.Set("widthS", static_cast<double>(table.widthS));
  out.Set("total", static_cast<double>(table.total));
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

} // namespace gilwatch
