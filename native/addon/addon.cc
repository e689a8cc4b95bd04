// JavaScript bindings: the ingest sockets live in Node; decoding and aggregation live here.
#include <napi.h>

#include <algorithm>
#include <cstddef>
#include <ctime>
#include <map>
#include <memory>

#include "process_views.h"
#include "decoder.h"
#include "gil_names.h"
#include "../protocol/ingest_limits.h"
#include "store.h"
#include "../protocol/view_layout.h"

namespace gilwatch {
namespace {

uint64_t serverNowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

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

// IngestLimits as JavaScript sees them: {serviceBytes: 256, ...}. Read and written through
// one table so the names cannot drift between ingestLimits() and the NativeStore's options.
template <typename Visit>
void eachLimit(IngestLimits &l, Visit visit) {
  visit("serviceBytes", l.serviceBytes);
  visit("executableBytes", l.executableBytes);
  visit("argvBytes", l.argvBytes);
  visit("threadNameBytes", l.threadNameBytes);
  visit("threadsPerProcess", l.threadsPerProcess);
  visit("stringsPerProcess", l.stringsPerProcess);
  visit("stringBytesPerProcess", l.stringBytesPerProcess);
  visit("rangeKeysPerThread", l.rangeKeysPerThread);
  visit("openRangesPerThread", l.openRangesPerThread);
  visit("liveProcesses", l.liveProcesses);
  visit("connections", l.connections);
  visit("definitionBytesPerConnection", l.definitionBytesPerConnection);
  visit("helloTimeoutMs", l.helloTimeoutMs);
  visit("idleTimeoutMs", l.idleTimeoutMs);
  visit("metricsSeries", l.metricsSeries);
  visit("apiThreadsPerProcess", l.apiThreadsPerProcess);
  visit("apiRangesPerThread", l.apiRangesPerThread);
  visit("apiResponseBytes", l.apiResponseBytes);
}

// NativeStoreOptions' numbers as JavaScript sees them (Store's options, `gilwatch serve`'s
// defaults): one table for reading options and for telling their defaults.
template <typename Visit>
void eachStoreOption(NativeStoreOptions &o, Visit visit) {
  visit("recentPerThread", o.recentPerThread, 1);
  visit("maxThreadLabels", o.metrics.maxThreads, 1);
  visit("maxRangeKeys", o.metrics.maxRangeKeys, 1);
  visit("holdMaxWindowMs", o.metrics.holdMaxWindowNs, 1e6); // ns inside
}

Napi::Object limitsObject(Napi::Env env, IngestLimits limits) {
  Napi::Object o = Napi::Object::New(env);
  eachLimit(limits, [&](const char *name, auto value) { o.Set(name, static_cast<double>(value)); });
  return o;
}

// Series one process adds to /metrics, as server/metrics.ts writes them.
size_t metricsSeriesOf(const Process &p) {
  constexpr size_t histogram = kDurationBuckets + 3; // buckets, +Inf, _sum, _count
  size_t series = 2;                                 // gilwatch_events_dropped_total, gilwatch_ingest_lag_seconds
  series += p.gils.size() * (2 * histogram + 4);     // hold, wait; current, waiters, contended, drops
  for (const GilTotals &g : p.gils) series += 3 * g.longHoldSites.size(); // long hold: 3 causes per site
  size_t threadGils = p.otherThreads.size();
  for (const auto &[id, thread] : p.threads)
    if (thread->slot == LabelSlot::Own) threadGils += thread->gil.size();
  series += threadGils * 5; // hold, wait, 2 acquisitions, hold max
  series += (p.rangeHistograms.size() + (p.otherRanges.count ? 1 : 0)) * histogram;
  return series;
}

class NativeStoreWrap : public Napi::ObjectWrap<NativeStoreWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeStore",
                       {
                           InstanceMethod<&NativeStoreWrap::OpenConnection>("openConnection"),
                           InstanceMethod<&NativeStoreWrap::Feed>("feed"),
                           InstanceMethod<&NativeStoreWrap::CloseConnection>("closeConnection"),
                           InstanceMethod<&NativeStoreWrap::ConnectionProcess>("connectionProcess"),
                           InstanceMethod<&NativeStoreWrap::Processes>("processes"),
                           InstanceMethod<&NativeStoreWrap::ProcessOne>("process"),
                           InstanceMethod<&NativeStoreWrap::List>("list"),
                           InstanceMethod<&NativeStoreWrap::Ranges>("ranges"),
                           InstanceMethod<&NativeStoreWrap::Sweep>("sweep"),
                           InstanceMethod<&NativeStoreWrap::Counters>("counters"),
                           InstanceMethod<&NativeStoreWrap::Metrics>("metrics"),
                           InstanceMethod<&NativeStoreWrap::Timeline>("timeline"),
                           InstanceMethod<&NativeStoreWrap::LongHolds>("longHolds"),
                           InstanceMethod<&NativeStoreWrap::Series>("series"),
                           InstanceMethod<&NativeStoreWrap::Clock>("clock"),
                           InstanceMethod<&NativeStoreWrap::Threads>("threads"),
                           InstanceMethod<&NativeStoreWrap::Summary>("summary"),
                           InstanceMethod<&NativeStoreWrap::Preamble>("preamble"),
                           InstanceMethod<&NativeStoreWrap::CountOverflow>("countOverflow"),
                       });
  }

  explicit NativeStoreWrap(const Napi::CallbackInfo &info)
      : Napi::ObjectWrap<NativeStoreWrap>(info), store_(options(info)) {}

 private:
  static NativeStoreOptions options(const Napi::CallbackInfo &info) {
    NativeStoreOptions options;
    if (info.Length() > 0 && info[0].IsObject()) {
      Napi::Object o = info[0].As<Napi::Object>();
      auto number = [&](const char *key, auto &out, double scale = 1) {
        if (o.Get(key).IsNumber())
          out =
              static_cast<std::remove_reference_t<decltype(out)>>(o.Get(key).As<Napi::Number>().DoubleValue() * scale);
      };
      eachStoreOption(options, number);
      if (o.Get("keepDefinitions").IsBoolean()) options.keepDefinitions = o.Get("keepDefinitions").As<Napi::Boolean>();
      if (o.Get("limits").IsObject()) {
        Napi::Object limits = o.Get("limits").As<Napi::Object>();
        eachLimit(options.limits, [&](const char *name, auto &value) {
          if (limits.Get(name).IsNumber())
            value = static_cast<std::remove_reference_t<decltype(value)>>(
                limits.Get(name).As<Napi::Number>().DoubleValue());
        });
      }
    }
    return options;
  }

  Connection *connection(const Napi::CallbackInfo &info) {
    auto found = connections_.find(info[0].As<Napi::Number>().Uint32Value());
    return found == connections_.end() ? nullptr : found->second.get();
  }

  Napi::Value OpenConnection(const Napi::CallbackInfo &info) {
    uint32_t id = nextConnection_++;
    connections_.emplace(id, std::make_unique<Connection>(store_));
    store_.counters().connectionsOpen++;
    store_.counters().connectionsTotal++;
    return Napi::Number::New(info.Env(), id);
  }

  // feed(id, chunk) -> undefined, or {code, message} once the stream is invalid.
  Napi::Value Feed(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Connection *c = connection(info);
    if (!c) return env.Undefined();
    auto chunk = info[1].As<Napi::Buffer<uint8_t>>();
    // A replayed recording passes the time each chunk originally arrived.
    uint64_t at = info.Length() > 2 && info[2].IsNumber()
                      ? static_cast<uint64_t>(info[2].As<Napi::Number>().DoubleValue())
                      : serverNowNs();
    DecodeError error = c->feed(chunk.Data(), chunk.Length(), at);
    if (!error.failed()) return env.Undefined();
    store_.counters().decodeErrors++;
    Napi::Object result = Napi::Object::New(env);
    result.Set("code", error.code);
    result.Set("message", error.message);
    return result;
  }

  Napi::Value CloseConnection(const Napi::CallbackInfo &info) {
    auto found = connections_.find(info[0].As<Napi::Number>().Uint32Value());
    if (found != connections_.end()) {
      uint64_t at = info.Length() > 1 && info[1].IsNumber()
                        ? static_cast<uint64_t>(info[1].As<Napi::Number>().DoubleValue())
                        : serverNowNs();
      found->second->close(at);
      connections_.erase(found);
      store_.counters().connectionsOpen--;
    }
    return info.Env().Undefined();
  }

  // The process behind a connection (its instance id), once HELLO arrived.
  Napi::Value ConnectionProcess(const Napi::CallbackInfo &info) {
    Connection *c = connection(info);
    if (!c || !c->process()) return info.Env().Undefined();
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("instance", hex64(c->process()->instance));
    o.Set("pid", c->process()->pid);
    o.Set("service", c->process()->service);
    return o;
  }

  // Bounded per process (IngestLimits::api*) and in all (apiResponseBytes): a process with
  // thousands of threads or keys says how many it left out rather than growing every
  // response. Returns an empty handle when not even the process itself fits in `budget`.
  Napi::Object processObject(Napi::Env env, const Process &p, uint64_t now, ResponseBudget &budget) {
    const StringTable &strings = p.strings;
    const IngestLimits &limits = store_.limits();
    size_t header = kProcessJsonBytes + jsonBytes(p.service) + jsonBytes(p.executable);
    for (const std::string &a : p.argv) header += jsonBytes(a) + 4;
    if (!budget.take(header)) return Napi::Object();
    Napi::Object o = Napi::Object::New(env);
    o.Set("instance", hex64(p.instance));
    o.Set("pid", p.pid);
    o.Set("ppid", p.ppid);
    o.Set("service", p.service);
    o.Set("executable", p.executable);
    Napi::Array argv = Napi::Array::New(env, p.argv.size());
    for (size_t i = 0; i < p.argv.size(); i++) argv.Set(i, p.argv[i]);
    o.Set("argv", argv);
    o.Set("state", stateName(p.state));
    o.Set("connectedAtMs", p.wallMs(p.helloMonotonicNs));
    uint64_t clientNow =
        p.state == ProcessState::Connected ? p.clientNowNs(now) : p.clientNowNs(p.disconnectedServerNs);
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

  // processes() -> {processes, processesOmitted}: processes in order until the response budget
  // is spent (the last one listed may lack threads), the rest counted.
  Napi::Value Processes(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    uint64_t now = serverNowNs();
    ResponseBudget budget(store_.limits().apiResponseBytes);
    Napi::Array list = Napi::Array::New(env);
    uint32_t listed = 0;
    size_t omitted = 0;
    for (const auto &process : store_.processes()) {
      Napi::Object o = budget.spent() ? Napi::Object() : processObject(env, *process, now, budget);
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

  // process(instance) -> one process as processes() shows it (a budget of its own), or null.
  Napi::Value ProcessOne(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    const Process *p = store_.find(std::stoull(info[0].As<Napi::String>().Utf8Value(), nullptr, 16));
    if (!p) return env.Null();
    ResponseBudget budget(store_.limits().apiResponseBytes);
    Napi::Object o = processObject(env, *p, serverNowNs(), budget);
    return o.IsEmpty() ? env.Null() : Napi::Value(o);
  }

  // list() -> every process without its threads: cheap enough to call many times a second.
  Napi::Value List(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    const auto &processes = store_.processes();
    Napi::Array list = Napi::Array::New(env, processes.size());
    for (size_t i = 0; i < processes.size(); i++) {
      const Process &p = *processes[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("instance", hex64(p.instance));
      o.Set("pid", p.pid);
      o.Set("ppid", p.ppid);
      o.Set("service", p.service);
      o.Set("state", stateName(p.state));
      Napi::Array argv = Napi::Array::New(env, p.argv.size());
      for (size_t k = 0; k < p.argv.size(); k++) argv.Set(k, p.argv[k]);
      o.Set("argv", argv);
      o.Set("connectedAtMs", p.wallMs(p.helloMonotonicNs));
      o.Set("droppedEvents", static_cast<double>(p.droppedEvents));
      o.Set("rangesReceived", static_cast<double>(p.rangesReceived));
      o.Set("threads", static_cast<double>(p.threads.size()));
      list.Set(i, o);
    }
    return list;
  }

  // ranges(instance, {thread?, sinceNs?, limit?}) -> recent completed ranges, oldest first.
  Napi::Value Ranges(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    uint64_t instance = std::stoull(info[0].As<Napi::String>().Utf8Value(), nullptr, 16);
    Process *p = store_.find(instance);
    if (!p) return env.Null();
    int64_t onlyThread = -1;
    double sinceNs = 0;
    size_t limit = SIZE_MAX;
    if (info.Length() > 1 && info[1].IsObject()) {
      Napi::Object o = info[1].As<Napi::Object>();
      if (o.Has("thread") && o.Get("thread").IsNumber()) onlyThread = o.Get("thread").As<Napi::Number>().Int64Value();
      if (o.Has("sinceNs") && o.Get("sinceNs").IsNumber()) sinceNs = o.Get("sinceNs").As<Napi::Number>().DoubleValue();
      if (o.Has("limit") && o.Get("limit").IsNumber()) limit = o.Get("limit").As<Napi::Number>().Uint32Value();
    }
    const StringTable &strings = p->strings;
    Napi::Array out = Napi::Array::New(env);
    uint32_t n = 0;
    for (const auto &[id, t] : p->threads) {
      if (onlyThread >= 0 && t->id != static_cast<uint32_t>(onlyThread)) continue;
      for (size_t i = 0; i < t->recent.size() && n < limit; i++) {
        const RecentRange &r = t->recent.at(i);
        if (static_cast<double>(r.endNs) < sinceNs) continue;
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

  // The process named by info[0] (hex instance) and its clock "now", or nullptr.
  const Process *processArg(const Napi::CallbackInfo &info, uint64_t &clientNow) {
    if (info.Length() < 1 || !info[0].IsString()) return nullptr;
    uint64_t instance = std::strtoull(info[0].As<Napi::String>().Utf8Value().c_str(), nullptr, 16);
    const Process *p = store_.find(instance);
    if (p)
      clientNow =
          p->state == ProcessState::Connected ? p->clientNowNs(serverNowNs()) : p->clientNowNs(p->disconnectedServerNs);
    return p;
  }

  // timeline(instance, startNs, endNs, pxNs)
  Napi::Value Timeline(const Napi::CallbackInfo &info) {
    uint64_t now = 0;
    const Process *p = processArg(info, now);
    if (!p) return info.Env().Null();
    return timelineView(info.Env(), store_, *p, now, info[1].As<Napi::Number>().DoubleValue(),
                        info[2].As<Napi::Number>().DoubleValue(), info[3].As<Napi::Number>().DoubleValue());
  }

  // longHolds(instance, thresholdNs, limit)
  Napi::Value LongHolds(const Napi::CallbackInfo &info) {
    uint64_t now = 0;
    const Process *p = processArg(info, now);
    if (!p) return info.Env().Null();
    return longHoldsView(info.Env(), store_, *p, now, info[1].As<Napi::Number>().DoubleValue(),
                         info[2].As<Napi::Number>().Uint32Value());
  }

  // clock(instance) -> {nowNs, wallMs}: the process's clock now and the matching wall time.
  Napi::Value Clock(const Napi::CallbackInfo &info) {
    uint64_t now = 0;
    const Process *p = processArg(info, now);
    if (!p) return info.Env().Null();
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("nowNs", static_cast<double>(now));
    o.Set("wallMs", p->wallMs(now));
    return o;
  }

  // threads(instance, limit)
  Napi::Value Threads(const Napi::CallbackInfo &info) {
    uint64_t now = 0;
    const Process *p = processArg(info, now);
    if (!p) return info.Env().Null();
    return threadsView(info.Env(), *p, now, info[1].As<Napi::Number>().Uint32Value());
  }

  // summary(instance, topHolds)
  Napi::Value Summary(const Napi::CallbackInfo &info) {
    uint64_t now = 0;
    const Process *p = processArg(info, now);
    if (!p) return info.Env().Null();
    return summaryView(info.Env(), store_, *p, now, info[1].As<Napi::Number>().Uint32Value());
  }

  // preamble(connection) -> the HELLO and definition frames so far: what a new recording
  // file needs to make sense of the connection's later frames.
  Napi::Value Preamble(const Napi::CallbackInfo &info) {
    Connection *c = connection(info);
    if (!c) return info.Env().Null();
    const auto &bytes = c->preamble();
    return Napi::Buffer<uint8_t>::Copy(info.Env(), bytes.data(), bytes.size());
  }

  // series(instance, fromSecond)
  Napi::Value Series(const Napi::CallbackInfo &info) {
    uint64_t now = 0;
    const Process *p = processArg(info, now);
    if (!p) return info.Env().Null();
    return seriesView(info.Env(), *p, now, static_cast<uint64_t>(info[1].As<Napi::Number>().DoubleValue()));
  }

  Napi::Value Sweep(const Napi::CallbackInfo &info) {
    auto ms = [&](size_t i) { return static_cast<uint64_t>(info[i].As<Napi::Number>().DoubleValue() * 1e6); };
    store_.sweep(serverNowNs(), ms(0), ms(1), info[2].As<Napi::Number>().Uint32Value());
    return info.Env().Undefined();
  }

  static Napi::Object histogramObject(Napi::Env env, const DurationHistogram &h) {
    Napi::Object o = Napi::Object::New(env);
    Napi::Array counts = Napi::Array::New(env, h.counts.size());
    for (size_t i = 0; i < h.counts.size(); i++) counts.Set(i, static_cast<double>(h.counts[i]));
    o.Set("counts", counts); // per bucket (not cumulative), last: above the largest bound
    o.Set("count", static_cast<double>(h.count));
    o.Set("sum", static_cast<double>(h.sumNs) / 1e9);
    return o;
  }

  // What /metrics needs, already aggregated: per process its GILs, its labelled threads
  // (plus "other"), and its non-GIL range histograms. Retired processes are left out, and
  // so are whole processes beyond IngestLimits::metricsSeries: the largest first (ties:
  // the newest first), so many or huge processes cannot make the scrape fail or crawl for
  // the ordinary ones. -> {processes, processesDropped, seriesDropped}
  Napi::Value Metrics(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    const MetricsOptions &options = store_.options().metrics;
    uint64_t now = serverNowNs();
    uint64_t slotWidth = options.holdMaxWindowNs / WindowMax::kSlots;
    std::vector<std::pair<size_t, size_t>> candidates; // (series, index): stable, so older first on ties
    const auto &all = store_.processes();
    for (size_t i = 0; i < all.size(); i++)
      if (all[i]->state != ProcessState::Retired) candidates.emplace_back(metricsSeriesOf(*all[i]), i);
    std::stable_sort(candidates.begin(), candidates.end(),
                     [](const auto &a, const auto &b) { return a.first < b.first; });
    std::vector<bool> included(all.size(), false);
    size_t budget = store_.limits().metricsSeries, used = 0, seriesDropped = 0, processesDropped = 0;
    for (const auto &[series, index] : candidates) {
      if (used + series <= budget) {
        used += series;
        included[index] = true;
      } else {
        seriesDropped += series;
        processesDropped++;
      }
    }
    if (processesDropped) store_.overflow(LimitKind::MetricsSeries);
    Napi::Array list = Napi::Array::New(env);
    uint32_t n = 0;
    for (size_t index = 0; index < all.size(); index++) {
      if (!included[index]) continue;
      const Process &p = *all[index];
      const StringTable &strings = p.strings;
      uint64_t clientNow =
          p.state == ProcessState::Connected ? p.clientNowNs(now) : p.clientNowNs(p.disconnectedServerNs);
      Napi::Object po = Napi::Object::New(env);
      po.Set("service", p.service);
      po.Set("pid", p.pid);
      po.Set("connected", p.state == ProcessState::Connected);
      po.Set("droppedEvents", static_cast<double>(p.droppedEvents));
      po.Set("lagSeconds", static_cast<double>(p.lagNs) / 1e9);

      Napi::Array gils = Napi::Array::New(env, p.gils.size());
      for (size_t g = 0; g < p.gils.size(); g++) {
        const GilTotals &gil = p.gils[g];
        double currentHold = 0;
        uint32_t waiters = 0;
        if (p.state == ProcessState::Connected && p.stateSeen) {
          // The sender's state at its last tick (every 10 ms): every hold and wait, any age.
          for (const Process::GilOpen &o : p.gilOpen)
            if (o.hold && o.interp == gil.interp && clientNow > o.startNs)
              currentHold = std::max(currentHold, static_cast<double>(clientNow - o.startNs) / 1e9);
          waiters = gil.waitersNow;
        } else if (p.state == ProcessState::Connected) {
          for (const auto &[id, t] : p.threads) {
            for (const OpenRange &r : t->open) {
              if (r.domain != store_.gilDomain() || NativeStore::interpOf(r.payloadType, r.payload) != gil.interp)
                continue;
              if (r.message == store_.holdingId() && clientNow > r.startNs)
                currentHold = std::max(currentHold, static_cast<double>(clientNow - r.startNs) / 1e9);
              if (r.message == store_.waitingId()) waiters++;
            }
          }
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

  // countOverflow(limit): a limit the JavaScript side enforces (connections, timeouts),
  // counted with the native ones so one table holds them all.
  Napi::Value CountOverflow(const Napi::CallbackInfo &info) {
    std::string name = info[0].As<Napi::String>().Utf8Value();
    for (size_t k = 0; k < kLimitKinds; k++)
      if (name == limitName(static_cast<LimitKind>(k))) store_.overflow(static_cast<LimitKind>(k));
    return info.Env().Undefined();
  }

  Napi::Value Counters(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    const StoreCounters &c = store_.counters();
    Napi::Object o = Napi::Object::New(env);
    o.Set("rangesReceived", static_cast<double>(c.rangesReceived));
    o.Set("bytesReceived", static_cast<double>(c.bytesReceived));
    o.Set("decodeErrors", static_cast<double>(c.decodeErrors));
    o.Set("connectionsOpen", static_cast<double>(c.connectionsOpen));
    o.Set("connectionsTotal", static_cast<double>(c.connectionsTotal));
    Napi::Object overflows = Napi::Object::New(env);
    for (size_t k = 0; k < kLimitKinds; k++)
      overflows.Set(limitName(static_cast<LimitKind>(k)), static_cast<double>(c.overflows[k]));
    o.Set("limitOverflows", overflows);
    return o;
  }

  NativeStore store_;
  uint32_t nextConnection_ = 1;
  std::map<uint32_t, std::unique_ptr<Connection>> connections_;
};

// The wire layout as this build sees it, for the test that proves server/protocol.ts agrees.
Napi::Value ProtocolLayout(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  auto set = [&](const char *name, double value) { o.Set(name, value); };
#define SIZE(type)         set("sizeof_" #type, sizeof(type))
#define FIELD(type, field) set(#type "." #field, offsetof(type, field))
  Napi::Array buckets = Napi::Array::New(env, kDurationBuckets);
  for (size_t i = 0; i < kDurationBuckets; i++) buckets.Set(i, static_cast<double>(kDurationBucketsNs[i]) / 1e9);
  o.Set("durationBucketsSeconds", buckets);
  Napi::Object gilNames = Napi::Object::New(env);
  gilNames.Set("GW_GIL_DOMAIN", GW_GIL_DOMAIN);
  gilNames.Set("GW_GIL_WAITING", GW_GIL_WAITING);
  gilNames.Set("GW_GIL_HOLDING", GW_GIL_HOLDING);
  gilNames.Set("GW_GIL_DROP_REQUEST", GW_GIL_DROP_REQUEST);
  o.Set("gilNames", gilNames);
  Napi::Array decodeErrors = Napi::Array::New(env);
#define DECODE_ERROR(name, code, meaning) decodeErrors.Set(decodeErrors.Length(), code);
  GW_DECODE_ERRORS(DECODE_ERROR)
#undef DECODE_ERROR
  o.Set("decodeErrors", decodeErrors);
  set("GW_PROTOCOL_MAGIC", GW_PROTOCOL_MAGIC);
  set("GW_PROTOCOL_VERSION", GW_PROTOCOL_VERSION);
  set("GW_MAX_FRAME_BODY", GW_MAX_FRAME_BODY);
  set("GW_FRAME_ALIGN", GW_FRAME_ALIGN);
  set("GW_MAX_DOMAINS", GW_MAX_DOMAINS);
  set("GW_MAX_STRINGS", GW_MAX_STRINGS);
  set("GW_MAX_THREADS", GW_MAX_THREADS);
  set("GW_MAX_STRING_BYTES", GW_MAX_STRING_BYTES);
  set("GW_FRAME_HELLO", GW_FRAME_HELLO);
  set("GW_FRAME_STRING", GW_FRAME_STRING);
  set("GW_FRAME_THREAD", GW_FRAME_THREAD);
  set("GW_FRAME_RECORDS", GW_FRAME_RECORDS);
  set("GW_FRAME_STATUS", GW_FRAME_STATUS);
  set("GW_FRAME_THREAD_EXIT", GW_FRAME_THREAD_EXIT);
  set("GW_FRAME_HOLD_CAUSE", GW_FRAME_HOLD_CAUSE);
  set("GW_FRAME_AUTH", GW_FRAME_AUTH);
  set("GW_FRAME_GIL_TOTALS", GW_FRAME_GIL_TOTALS);
  set("GW_FRAME_GIL_STATE", GW_FRAME_GIL_STATE);
  set("GW_STATE_GILS", GW_STATE_GILS);
  set("GW_STATE_OPEN", GW_STATE_OPEN);
  set("GW_OPEN_HOLD", GW_OPEN_HOLD);
  set("GW_OPEN_WAIT", GW_OPEN_WAIT);
  set("GW_RETIRED_THREADS", GW_RETIRED_THREADS);
  set("GW_GIL_SLOTS", GW_GIL_SLOTS);
  set("GW_DURATION_BUCKETS", GW_DURATION_BUCKETS);
  set("GW_MAX_TOKEN_BYTES", GW_MAX_TOKEN_BYTES);
  set("GW_CAUSE_SYSCALLS", GW_CAUSE_SYSCALLS);
  set("GW_CAUSE_OTHERS", GW_CAUSE_OTHERS);
  set("GW_CAUSE_FRAMES", GW_CAUSE_FRAMES);
  set("GW_STACK_WALK_LIMIT", GW_STACK_WALK_LIMIT);
  set("GW_SYSCALL_NONE", GW_SYSCALL_NONE);
  set("GW_SYSCALL_UNKNOWN", GW_SYSCALL_UNKNOWN);
  set("GW_SYSCALL_GIL_WAIT", GW_SYSCALL_GIL_WAIT);
  set("GW_CAUSE_FINAL", GW_CAUSE_FINAL);
  set("GW_STRING_DOMAIN", GW_STRING_DOMAIN);
  set("GW_STRING_MESSAGE", GW_STRING_MESSAGE);
  set("GW_STRING_CATEGORY", GW_STRING_CATEGORY);
  set("GW_RECORD_RANGE", GW_RECORD_RANGE);
  set("GW_RECORD_OPEN", GW_RECORD_OPEN);
  set("GW_RECORD_START", GW_RECORD_START);
  set("GW_RECORD_END", GW_RECORD_END);
  set("GW_RECORD_MARK", GW_RECORD_MARK);
  set("GW_PAYLOAD_NONE", GW_PAYLOAD_NONE);
  set("GW_PAYLOAD_UINT64", GW_PAYLOAD_UINT64);
  set("GW_PAYLOAD_INT64", GW_PAYLOAD_INT64);
  set("GW_PAYLOAD_DOUBLE", GW_PAYLOAD_DOUBLE);
  set("GW_FLAG_CLOSED_BY_THREAD_EXIT", GW_FLAG_CLOSED_BY_THREAD_EXIT);
  set("GW_STATUS_RECONNECTING", GW_STATUS_RECONNECTING);
  SIZE(gw_frame_header);
  FIELD(gw_frame_header, length);
  FIELD(gw_frame_header, type);
  SIZE(gw_hello);
  FIELD(gw_hello, magic);
  FIELD(gw_hello, version);
  FIELD(gw_hello, record_size);
  FIELD(gw_hello, pid);
  FIELD(gw_hello, ppid);
  FIELD(gw_hello, instance);
  FIELD(gw_hello, monotonic_ns);
  FIELD(gw_hello, realtime_ns);
  FIELD(gw_hello, service_length);
  FIELD(gw_hello, executable_length);
  FIELD(gw_hello, argv_length);
  SIZE(gw_string);
  FIELD(gw_string, id);
  FIELD(gw_string, domain);
  FIELD(gw_string, kind);
  FIELD(gw_string, length);
  SIZE(gw_thread_info);
  FIELD(gw_thread_info, thread);
  FIELD(gw_thread_info, tid);
  FIELD(gw_thread_info, name_length);
  SIZE(gw_thread_exit);
  FIELD(gw_thread_exit, thread);
  FIELD(gw_thread_exit, time_ns);
  SIZE(gw_records_header);
  FIELD(gw_records_header, thread);
  FIELD(gw_records_header, count);
  SIZE(gw_record);
  FIELD(gw_record, kind);
  FIELD(gw_record, payload_type);
  FIELD(gw_record, depth);
  FIELD(gw_record, flags);
  FIELD(gw_record, message);
  FIELD(gw_record, domain);
  FIELD(gw_record, aux);
  FIELD(gw_record, start_ns);
  FIELD(gw_record, end_ns);
  FIELD(gw_record, payload);
  SIZE(gw_cause_syscall);
  FIELD(gw_cause_syscall, syscall);
  FIELD(gw_cause_syscall, wait_site);
  FIELD(gw_cause_syscall, ns);
  SIZE(gw_cause_others);
  FIELD(gw_cause_others, syscall);
  FIELD(gw_cause_others, thread_samples);
  SIZE(gw_hold_cause);
  FIELD(gw_hold_cause, thread);
  FIELD(gw_hold_cause, flags);
  FIELD(gw_hold_cause, start_ns);
  FIELD(gw_hold_cause, interp);
  FIELD(gw_hold_cause, sampled_from_ns);
  FIELD(gw_hold_cause, sampled_to_ns);
  FIELD(gw_hold_cause, on_cpu_ns);
  FIELD(gw_hold_cause, runqueue_ns);
  FIELD(gw_hold_cause, blocked_ns);
  FIELD(gw_hold_cause, major_faults);
  FIELD(gw_hold_cause, samples);
  FIELD(gw_hold_cause, other_samples);
  FIELD(gw_hold_cause, frame_count);
  FIELD(gw_hold_cause, stack_depth);
  FIELD(gw_hold_cause, blocked_in);
  FIELD(gw_hold_cause, others);
  FIELD(gw_hold_cause, frames);
  SIZE(gw_python_frame);
  FIELD(gw_python_frame, function);
  FIELD(gw_python_frame, file);
  FIELD(gw_python_frame, line);
  SIZE(gw_gil_state_header);
  FIELD(gw_gil_state_header, gils);
  FIELD(gw_gil_state_header, open);
  FIELD(gw_gil_state_header, open_omitted);
  FIELD(gw_gil_state_header, now_ns);
  SIZE(gw_gil_contention);
  FIELD(gw_gil_contention, interp);
  FIELD(gw_gil_contention, contended_ns);
  FIELD(gw_gil_contention, waiters);
  SIZE(gw_gil_open);
  FIELD(gw_gil_open, thread);
  FIELD(gw_gil_open, kind);
  FIELD(gw_gil_open, interp);
  FIELD(gw_gil_open, start_ns);
  SIZE(gw_gil_totals_header);
  FIELD(gw_gil_totals_header, thread);
  FIELD(gw_gil_totals_header, count);
  SIZE(gw_gil_totals);
  FIELD(gw_gil_totals, interp);
  FIELD(gw_gil_totals, holds);
  FIELD(gw_gil_totals, contended_holds);
  FIELD(gw_gil_totals, hold_ns);
  FIELD(gw_gil_totals, waits);
  FIELD(gw_gil_totals, wait_ns);
  FIELD(gw_gil_totals, drop_requests);
  FIELD(gw_gil_totals, longest_hold_ns);
  FIELD(gw_gil_totals, longest_hold_start_ns);
  FIELD(gw_gil_totals, longest_wait_ns);
  FIELD(gw_gil_totals, hold_buckets);
  FIELD(gw_gil_totals, wait_buckets);
  SIZE(gw_status);
  FIELD(gw_status, sent_ns);
  FIELD(gw_status, dropped_events);
  FIELD(gw_status, unmatched_pops);
  FIELD(gw_status, threads);
  FIELD(gw_status, flags);
#undef SIZE
#undef FIELD
  return o;
}

// The column tables of the views' flat rows (view_layout.h), for the test that proves
// server/views.ts agrees: {timelineItem: {START: 0, ...}, timelineItemFields: 6, ...}.
Napi::Value ViewLayout(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Object timelineItem = Napi::Object::New(env);
  Napi::Object laneKind = Napi::Object::New(env);
  Napi::Object seriesColumn = Napi::Object::New(env);
#define ITEM(name, js)   timelineItem.Set(#js, static_cast<double>(TimelineItem::name));
#define LANE(name, js)   laneKind.Set(#js, static_cast<double>(LaneKind::name));
#define COLUMN(name, js) seriesColumn.Set(#js, static_cast<double>(SeriesColumn::name));
  GW_TIMELINE_ITEM(ITEM)
  GW_LANE_KIND(LANE)
  GW_SERIES_COLUMN(COLUMN)
#undef ITEM
#undef LANE
#undef COLUMN
  Napi::Object o = Napi::Object::New(env);
  o.Set("timelineItem", timelineItem);
  o.Set("timelineItemFields", static_cast<double>(TimelineItem::kFields));
  o.Set("laneKind", laneKind);
  o.Set("timelineKindMask", static_cast<double>(kTimelineKindMask));
  o.Set("timelineOpen", static_cast<double>(kTimelineOpen));
  o.Set("seriesColumn", seriesColumn);
  o.Set("seriesColumns", static_cast<double>(SeriesColumn::kColumns));
  return o;
}

} // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeStore", NativeStoreWrap::Define(env));
  exports.Set("protocolLayout", Napi::Function::New(env, ProtocolLayout));
  exports.Set("viewLayout", Napi::Function::New(env, ViewLayout));
  exports.Set("ingestLimits", Napi::Function::New(env, [](const Napi::CallbackInfo &info) -> Napi::Value {
                return limitsObject(info.Env(), IngestLimits{});
              }));
  exports.Set("storeDefaults", Napi::Function::New(env, [](const Napi::CallbackInfo &info) -> Napi::Value {
                Napi::Object o = Napi::Object::New(info.Env());
                NativeStoreOptions defaults;
                eachStoreOption(defaults, [&](const char *name, auto value, double scale) {
                  o.Set(name, static_cast<double>(value) / scale);
                });
                return o;
              }));
  return exports;
}

} // namespace gilwatch

static Napi::Object InitGilwatch(Napi::Env env, Napi::Object exports) { return gilwatch::Init(env, exports); }
NODE_API_MODULE(gilwatch_addon, InitGilwatch)
