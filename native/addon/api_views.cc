// What the HTTP API lists (addon.cc: processes, process, list, ranges): processes with their
// threads, range totals and open ranges, bounded per process and in all.
#include <algorithm>
#include <cstring>
#include <string_view>

#include "process_views.h"
#include "series_rows.h"
#include "services.h"

namespace gilwatch {

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
  uint64_t clientNow = p.viewNowNs(now);
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

Napi::Value servicesView(Napi::Env env, const NativeStore &store, uint64_t serverNowNs) {
  std::vector<ServiceRuns> services = groupServices(store);
  Napi::Array out = Napi::Array::New(env, services.size());
  for (size_t s = 0; s < services.size(); s++) {
    Napi::Array runs = Napi::Array::New(env, services[s].runs.size());
    for (size_t r = 0; r < services[s].runs.size(); r++) {
      const Process &p = *services[s].runs[r];
      Napi::Object o = Napi::Object::New(env);
      o.Set("instance", hex64(p.instance));
      o.Set("pid", p.pid);
      o.Set("state", stateName(p.state));
      o.Set("totals", NativeStore::totalsState(p));
      o.Set("startMs", p.wallMs(p.startMonotonicNs));
      o.Set("endMs", p.state == ProcessState::Connected
                         ? env.Null()
                         : Napi::Value(Napi::Number::New(env, p.wallMs(p.viewNowNs(serverNowNs)))));
      runs.Set(r, o);
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("id", hex64(services[s].id));
    o.Set("service", services[s].runs.front()->service);
    o.Set("runs", runs);
    out.Set(s, o);
  }
  return out;
}

Napi::Value serviceWorstHoldsView(Napi::Env env, const NativeStore &store, uint64_t id, uint32_t limit) {
  for (const ServiceRuns &service : groupServices(store)) {
    if (service.id != id) continue;
    std::vector<std::pair<const WorstHold *, const Process *>> holds;
    for (const Process *p : service.runs)
      for (const WorstHold &h : p->worstHolds) holds.emplace_back(&h, p);
    std::sort(holds.begin(), holds.end(), [](const auto &a, const auto &b) { return longerHold(a.first, b.first); });
    if (holds.size() > limit) holds.resize(limit);
    Napi::Array out = Napi::Array::New(env, holds.size());
    for (size_t i = 0; i < holds.size(); i++) {
      Napi::Object o = worstHoldObject(env, *holds[i].second, *holds[i].first);
      o.Set("instance", hex64(holds[i].second->instance));
      o.Set("pid", holds[i].second->pid);
      out.Set(i, o);
    }
    return out;
  }
  return env.Null();
}

Napi::Value serviceSeriesView(Napi::Env env, const NativeStore &store, uint64_t id, uint32_t maxPoints,
                              uint32_t maxRows, uint64_t serverNowNs) {
  for (const ServiceRuns &service : groupServices(store)) {
    if (service.id != id) continue;
    // Each run's whole history, its main GIL's (the charts draw that one), newest runs first
    // until maxRows.
    std::vector<Napi::Object> kept;
    size_t rows = 0;
    for (size_t r = service.runs.size(); r-- > 0;) {
      const Process &p = *service.runs[r];
      std::vector<GilSeriesRows> tables = computeSeriesRange(p, p.viewNowNs(serverNowNs), 0, maxPoints);
      auto main = std::find_if(tables.begin(), tables.end(), [](const GilSeriesRows &t) { return t.interp == 0; });
      if (main == tables.end() && !tables.empty()) main = tables.begin();
      size_t count = main == tables.end() ? 0 : main->rows.size() / SeriesColumn::kColumns;
      if (rows + count > maxRows) break;
      rows += count;
      Napi::Object run = Napi::Object::New(env);
      run.Set("instance", hex64(p.instance));
      run.Set("pid", p.pid);
      run.Set("startMs", p.wallMs(p.startMonotonicNs));
      run.Set("widthS", main == tables.end() ? 1.0 : static_cast<double>(main->widthS));
      Napi::Float64Array data = Napi::Float64Array::New(env, main == tables.end() ? 0 : main->rows.size());
      if (main != tables.end()) std::copy(main->rows.begin(), main->rows.end(), data.Data());
      run.Set("rows", data);
      kept.push_back(run);
    }
    Napi::Array runs = Napi::Array::New(env, kept.size());
    for (size_t i = 0; i < kept.size(); i++) runs.Set(i, kept[kept.size() - 1 - i]); // oldest first
    Napi::Object o = Napi::Object::New(env);
    o.Set("id", hex64(id));
    o.Set("service", service.runs.front()->service);
    o.Set("columns", static_cast<double>(SeriesColumn::kColumns));
    o.Set("runs", runs);
    o.Set("runsOmitted", static_cast<double>(service.runs.size() - kept.size()));
    return o;
  }
  return env.Null();
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
