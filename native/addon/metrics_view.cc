// What /metrics needs, aggregated next to the data (see metrics_view.h); server/metrics.ts
// only writes it out.
#include "metrics_view.h"

#include <algorithm>
#include <vector>

namespace gilwatch {
namespace {

Napi::Object histogramObject(Napi::Env env, const DurationHistogram &h) {
  Napi::Object o = Napi::Object::New(env);
  Napi::Array counts = Napi::Array::New(env, h.counts.size());
  for (size_t i = 0; i < h.counts.size(); i++) counts.Set(i, static_cast<double>(h.counts[i]));
  o.Set("counts", counts); // per bucket (not cumulative), last: above the largest bound
  o.Set("count", static_cast<double>(h.count));
  o.Set("sum", static_cast<double>(h.sumNs) / 1e9);
  return o;
}

// Series one process adds to /metrics, as server/metrics.ts writes them.
size_t metricsSeriesOf(const Process &p) {
  constexpr size_t histogram = kDurationBuckets + 3; // buckets, +Inf, _sum, _count
  size_t series = 2;                                 // gilwatch_events_dropped_total, gilwatch_ingest_lag_seconds
  series += p.gils.size() * (2 * histogram + 4);     // hold, wait; current, waiters, contended, drops
  for (const GilAccount &g : p.gils) series += 3 * g.longHoldSites.size(); // long hold: 3 causes per site
  size_t threadGils = p.otherThreads.size();
  for (const auto &[id, thread] : p.threads)
    if (thread->slot == LabelSlot::Own) threadGils += thread->gil.size();
  series += threadGils * 5; // hold, wait, 2 acquisitions, hold max
  series += (p.rangeHistograms.size() + (p.otherRanges.count ? 1 : 0)) * histogram;
  return series;
}

} // namespace

// What /metrics needs, already aggregated: per process its GILs, its labelled threads
// (plus "other"), and its non-GIL range histograms. Retired processes are left out, and
// so are whole processes beyond IngestLimits::metricsSeries, so many or huge processes
// cannot make the scrape fail or crawl. Who keeps a place: processes already reported, in
// the order they were first reported, then the others in the order they arrived. A process
// once in the scrape is not pushed out by newcomers, however many or small (its series
// would otherwise vanish and its alerts with them); a newcomer waits for room.
// -> {processes, processesDropped, seriesDropped}
Napi::Value metricsView(Napi::Env env, NativeStore &store, uint64_t now) {
  const MetricsOptions &options = store.options().metrics;
  uint64_t slotWidth = options.holdMaxWindowNs / WindowMax::kSlots;
  const auto &all = store.processes();
  std::vector<size_t> order; // indexes into `all`
  for (size_t i = 0; i < all.size(); i++)
    if (all[i]->state != ProcessState::Retired) order.push_back(i);
  // Reported ones first, by when they were first reported; then by arrival (stable).
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    uint64_t ra = all[a]->metricsReportedSince, rb = all[b]->metricsReportedSince;
    return (ra ? ra : UINT64_MAX) < (rb ? rb : UINT64_MAX);
  });
  uint64_t scrape = store.nextScrape();
  std::vector<bool> included(all.size(), false);
  size_t budget = store.limits().metricsSeries, used = 0, seriesDropped = 0, processesDropped = 0;
  for (size_t index : order) {
    size_t series = metricsSeriesOf(*all[index]);
    if (used + series <= budget) {
      used += series;
      included[index] = true;
      if (!all[index]->metricsReportedSince) all[index]->metricsReportedSince = scrape;
    } else {
      seriesDropped += series;
      processesDropped++;
    }
  }
  if (processesDropped) store.overflow(LimitKind::MetricsSeries);
  Napi::Array list = Napi::Array::New(env);
  uint32_t n = 0;
  for (size_t index = 0; index < all.size(); index++) {
    if (!included[index]) continue;
    const Process &p = *all[index];
    const StringTable &strings = p.strings;
    uint64_t clientNow = p.viewNowNs(now);
    Napi::Object po = Napi::Object::New(env);
    po.Set("service", p.service);
    po.Set("pid", p.pid);
    po.Set("connected", p.state == ProcessState::Connected);
    po.Set("totals", NativeStore::totalsState(p));
    po.Set("droppedEvents", static_cast<double>(p.droppedEvents));
    po.Set("lagSeconds", static_cast<double>(p.lagNs) / 1e9);

    Napi::Array gils = Napi::Array::New(env, p.gils.size());
    for (size_t g = 0; g < p.gils.size(); g++) {
      const GilAccount &gil = p.gils[g];
      double currentHold = 0;
      uint32_t waiters = 0;
      if (p.state == ProcessState::Connected) {
        // The sender's state at its last tick (every 10 ms): every hold and wait, any age.
        for (const Process::GilOpen &o : p.gilOpen)
          if (o.hold && o.interp == gil.interp && clientNow > o.startNs)
            currentHold = std::max(currentHold, static_cast<double>(clientNow - o.startNs) / 1e9);
        waiters = gil.waitersNow;
      }
      Napi::Object go = Napi::Object::New(env);
      go.Set("interp", static_cast<double>(gil.interp));
      go.Set("hold", histogramObject(env, gil.hold));
      go.Set("wait", histogramObject(env, gil.wait));
      go.Set("dropRequests", static_cast<double>(gil.dropRequests));
      Napi::Array longHold = Napi::Array::New(env, gil.longHoldSites.size());
      for (size_t k = 0; k < gil.longHoldSites.size(); k++) {
        const LongHoldSite &s = gil.longHoldSites[k];
        Napi::Object so = Napi::Object::New(env);
        so.Set("site", s.site);
        so.Set("onCpu", static_cast<double>(s.ns[0]) / 1e9);
        so.Set("runqueue", static_cast<double>(s.ns[1]) / 1e9);
        so.Set("blocked", static_cast<double>(s.ns[2]) / 1e9);
        longHold.Set(k, so);
      }
      go.Set("longHoldSeconds", longHold);
      go.Set("contendedSeconds", static_cast<double>(gil.contendedNs) / 1e9);
      go.Set("currentHoldSeconds", currentHold);
      go.Set("waiters", waiters);
      gils.Set(g, go);
    }
    po.Set("gils", gils);

    Napi::Array threads = Napi::Array::New(env);
    uint32_t t = 0;
    auto addThread = [&](const std::string &name, uint32_t tid, const ThreadGil &g) {
      Napi::Object to = Napi::Object::New(env);
      to.Set("name", name);
      to.Set("tid", tid);
      to.Set("interp", static_cast<double>(g.interp));
      to.Set("holdSeconds", static_cast<double>(g.holdNs) / 1e9);
      to.Set("waitSeconds", static_cast<double>(g.waitNs) / 1e9);
      to.Set("contended", static_cast<double>(g.contended));
      to.Set("uncontended", static_cast<double>(g.uncontended));
      to.Set("holdMaxSeconds", static_cast<double>(g.holdMax.max(clientNow / slotWidth)) / 1e9);
      threads.Set(t++, to);
    };
    for (const auto &[id, thread] : p.threads)
      if (thread->slot == LabelSlot::Own)
        for (const ThreadGil &g : thread->gil) addThread(thread->name, thread->tid, g);
    for (const ThreadGil &g : p.otherThreads) addThread("other", 0, g);
    po.Set("threads", threads);

    Napi::Array ranges = Napi::Array::New(env);
    uint32_t r = 0;
    for (const RangeHistogram &h : p.rangeHistograms) {
      Napi::Object ro = histogramObject(env, h.histogram);
      ro.Set("domain", strings.text(h.domain));
      ro.Set("message", strings.text(h.message));
      ranges.Set(r++, ro);
    }
    if (p.otherRanges.count) {
      Napi::Object ro = histogramObject(env, p.otherRanges);
      ro.Set("domain", "(other)");
      ro.Set("message", "(other)");
      ranges.Set(r++, ro);
    }
    po.Set("ranges", ranges);
    list.Set(n++, po);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("processes", list);
  result.Set("processesDropped", static_cast<double>(processesDropped));
  result.Set("seriesDropped", static_cast<double>(seriesDropped));
  return result;
}

} // namespace gilwatch
