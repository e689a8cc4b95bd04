// JavaScript bindings: the ingest sockets live in Node; decoding and aggregation live here.
#include <napi.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <ctime>
#include <map>
#include <memory>

#include "../protocol/region_directory.h"
#include "metrics_view.h"
#include "process_views.h"
#include "decoder.h"
#include "peer.h"
#include "layouts.h"
#include "../protocol/ingest_limits.h"
#include "store.h"

namespace gilwatch {
namespace {

uint64_t serverNowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
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
  visit("gilsPerProcess", l.gilsPerProcess);
  visit("liveProcesses", l.liveProcesses);
  visit("connections", l.connections);
  visit("definitionBytesPerConnection", l.definitionBytesPerConnection);
  visit("bufferedBytes", l.bufferedBytes);
  visit("frameTimeoutMs", l.frameTimeoutMs);
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
  // The tiers (history.h): seriesTier0WidthS, seriesTier0Slots, ..., threadTier2Slots.
  static_assert(kSeriesTiers == 3 && kThreadTiers == 3, "a name per tier below");
  static const char *const names[2][3][2] = {{{"seriesTier0WidthS", "seriesTier0Slots"},
                                              {"seriesTier1WidthS", "seriesTier1Slots"},
                                              {"seriesTier2WidthS", "seriesTier2Slots"}},
                                             {{"threadTier0WidthS", "threadTier0Slots"},
                                              {"threadTier1WidthS", "threadTier1Slots"},
                                              {"threadTier2WidthS", "threadTier2Slots"}}};
  SeriesTier *tiers[2] = {o.seriesTiers.data(), o.threadTiers.data()};
  for (size_t kind = 0; kind < 2; kind++) {
    for (size_t i = 0; i < 3; i++) {
      visit(names[kind][i][0], tiers[kind][i].widthS, 1);
      visit(names[kind][i][1], tiers[kind][i].slots, 1);
    }
  }
}

Napi::Object limitsObject(Napi::Env env, IngestLimits limits) {
  Napi::Object o = Napi::Object::New(env);
  eachLimit(limits, [&](const char *name, auto value) { o.Set(name, static_cast<double>(value)); });
  return o;
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
                           InstanceMethod<&NativeStoreWrap::BufferedBytes>("bufferedBytes"),
                           InstanceMethod<&NativeStoreWrap::PartialSinceNs>("partialSinceNs"),
                           InstanceMethod<&NativeStoreWrap::Processes>("processes"),
                           InstanceMethod<&NativeStoreWrap::ProcessOne>("process"),
                           InstanceMethod<&NativeStoreWrap::List>("list"),
                           InstanceMethod<&NativeStoreWrap::Ranges>("ranges"),
                           InstanceMethod<&NativeStoreWrap::Sweep>("sweep"),
                           InstanceMethod<&NativeStoreWrap::Counters>("counters"),
                           InstanceMethod<&NativeStoreWrap::Metrics>("metrics"),
                           InstanceMethod<&NativeStoreWrap::Timeline>("timeline"),
                           InstanceMethod<&NativeStoreWrap::LongHolds>("longHolds"),
                           InstanceMethod<&NativeStoreWrap::WorstHolds>("worstHolds"),
                           InstanceMethod<&NativeStoreWrap::WorstHoldTimeline>("worstHoldTimeline"),
                           InstanceMethod<&NativeStoreWrap::Series>("series"),
                           InstanceMethod<&NativeStoreWrap::SeriesRange>("seriesRange"),
                           InstanceMethod<&NativeStoreWrap::Services>("services"),
                           InstanceMethod<&NativeStoreWrap::ServiceSeries>("serviceSeries"),
                           InstanceMethod<&NativeStoreWrap::ServiceWorstHolds>("serviceWorstHolds"),
                           InstanceMethod<&NativeStoreWrap::Clock>("clock"),
                           InstanceMethod<&NativeStoreWrap::Threads>("threads"),
                           InstanceMethod<&NativeStoreWrap::Summary>("summary"),
                           InstanceMethod<&NativeStoreWrap::Preamble>("preamble"),
                           InstanceMethod<&NativeStoreWrap::CountOverflow>("countOverflow"),
                           InstanceMethod<&NativeStoreWrap::SettleRegions>("settleRegions"),
                           InstanceMethod<&NativeStoreWrap::ForgetEnded>("forgetEnded"),
                           InstanceMethod<&NativeStoreWrap::ScanRegions>("scanRegions"),
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

  // openConnection(owner, uid?, regionDirectory?) -> id; see Connection.
  Napi::Value OpenConnection(const Napi::CallbackInfo &info) {
    uint32_t id = nextConnection_++;
    std::string owner = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "unknown";
    int64_t uid = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int64Value() : -1;
    std::string directory = info.Length() > 2 && info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
    connections_.emplace(id, std::make_unique<Connection>(store_, std::move(owner), std::move(directory), uid));
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

  // settleRegions(): the regions of ended processes read a last time (NativeStore).
  Napi::Value SettleRegions(const Napi::CallbackInfo &info) {
    store_.settleRegions(serverNowNs());
    return info.Env().Undefined();
  }

  // forgetEnded() -> how many ended processes were forgotten (NativeStore::forgetEnded).
  Napi::Value ForgetEnded(const Napi::CallbackInfo &info) {
    return Napi::Number::New(info.Env(), static_cast<double>(store_.forgetEnded()));
  }

  // scanRegions(directory, uid) -> processes adopted from regions of ended processes.
  Napi::Value ScanRegions(const Napi::CallbackInfo &info) {
    size_t adopted = store_.scanRegions(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::Number>().Int64Value(),
                                        serverNowNs());
    return Napi::Number::New(info.Env(), static_cast<double>(adopted));
  }

  // bufferedBytes(id): bytes of an incomplete frame the connection holds.
  Napi::Value BufferedBytes(const Napi::CallbackInfo &info) {
    Connection *c = connection(info);
    return Napi::Number::New(info.Env(), c ? static_cast<double>(c->bufferedBytes()) : 0);
  }

  // partialSinceNs(id): when its incomplete frame began (server CLOCK_MONOTONIC, ns).
  Napi::Value PartialSinceNs(const Napi::CallbackInfo &info) {
    Connection *c = connection(info);
    return Napi::Number::New(info.Env(), c ? static_cast<double>(c->partialSinceNs()) : 0);
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

  // processes() -> {processes, processesOmitted}
  Napi::Value Processes(const Napi::CallbackInfo &info) { return processesView(info.Env(), store_, serverNowNs()); }

  // process(instance) -> one process as processes() shows it, or null.
  Napi::Value ProcessOne(const Napi::CallbackInfo &info) {
    const Process *p = store_.find(std::stoull(info[0].As<Napi::String>().Utf8Value(), nullptr, 16));
    return p ? processView(info.Env(), store_, *p, serverNowNs()) : info.Env().Null();
  }

  // list() -> every process without its threads.
  Napi::Value List(const Napi::CallbackInfo &info) { return processListView(info.Env(), store_); }

  // ranges(instance, {thread?, sinceNs?, limit?}) -> recent completed ranges, oldest first.
  Napi::Value Ranges(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    const Process *p = store_.find(std::stoull(info[0].As<Napi::String>().Utf8Value(), nullptr, 16));
    if (!p) return env.Null();
    int64_t onlyThread = -1;
    double sinceNs = 0;
    size_t offset = 0;
    size_t limit = SIZE_MAX;
    if (info.Length() > 1 && info[1].IsObject()) {
      Napi::Object o = info[1].As<Napi::Object>();
      if (o.Has("thread") && o.Get("thread").IsNumber()) onlyThread = o.Get("thread").As<Napi::Number>().Int64Value();
      if (o.Has("sinceNs") && o.Get("sinceNs").IsNumber()) sinceNs = o.Get("sinceNs").As<Napi::Number>().DoubleValue();
      if (o.Has("offset") && o.Get("offset").IsNumber()) offset = o.Get("offset").As<Napi::Number>().Uint32Value();
      if (o.Has("limit") && o.Get("limit").IsNumber()) limit = o.Get("limit").As<Napi::Number>().Uint32Value();
    }
    return rangesView(env, *p, onlyThread, sinceNs, offset, limit);
  }

  // The process named by info[0] (hex instance) and its clock "now", or nullptr.
  const Process *processArg(const Napi::CallbackInfo &info, uint64_t &clientNow) {
    if (info.Length() < 1 || !info[0].IsString()) return nullptr;
    uint64_t instance = std::strtoull(info[0].As<Napi::String>().Utf8Value().c_str(), nullptr, 16);
    const Process *p = store_.find(instance);
    if (p) clientNow = p->viewNowNs(serverNowNs());
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

  // worstHolds(instance, limit)
  Napi::Value WorstHolds(const Napi::CallbackInfo &info) {
    uint64_t now = 0;
    const Process *p = processArg(info, now);
    if (!p) return info.Env().Null();
    return worstHoldsView(info.Env(), *p, info[1].As<Napi::Number>().Uint32Value());
  }

  // worstHoldTimeline(instance, id)
  Napi::Value WorstHoldTimeline(const Napi::CallbackInfo &info) {
    uint64_t now = 0;
    const Process *p = processArg(info, now);
    if (!p) return info.Env().Null();
    return worstHoldTimelineView(info.Env(), *p, info[1].As<Napi::Number>().Uint32Value());
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

  // threads(instance, limit[, fromNs, toNs]): since the process came, or over that range of its clock
  Napi::Value Threads(const Napi::CallbackInfo &info) {
    uint64_t now = 0;
    const Process *p = processArg(info, now);
    if (!p) return info.Env().Null();
    uint32_t limit = info[1].As<Napi::Number>().Uint32Value();
    if (info.Length() >= 4 && info[2].IsNumber() && info[3].IsNumber())
      return threadsRangeView(info.Env(), *p, now, info[2].As<Napi::Number>().DoubleValue(),
                              info[3].As<Napi::Number>().DoubleValue(), limit);
    return threadsView(info.Env(), *p, now, limit);
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

  Napi::Value Services(const Napi::CallbackInfo &info) { return servicesView(info.Env(), store_, serverNowNs()); }

  // serviceWorstHolds(id as 16 hex digits, limit)
  Napi::Value ServiceWorstHolds(const Napi::CallbackInfo &info) {
    if (info.Length() < 2 || !info[0].IsString()) return info.Env().Null();
    uint64_t id = std::strtoull(info[0].As<Napi::String>().Utf8Value().c_str(), nullptr, 16);
    return serviceWorstHoldsView(info.Env(), store_, id, info[1].As<Napi::Number>().Uint32Value());
  }

  // serviceSeries(id as 16 hex digits, maxPoints, maxRows)
  Napi::Value ServiceSeries(const Napi::CallbackInfo &info) {
    if (info.Length() < 3 || !info[0].IsString()) return info.Env().Null();
    uint64_t id = std::strtoull(info[0].As<Napi::String>().Utf8Value().c_str(), nullptr, 16);
    return serviceSeriesView(info.Env(), store_, id, info[1].As<Napi::Number>().Uint32Value(),
                             info[2].As<Napi::Number>().Uint32Value(), serverNowNs());
  }

  // seriesRange(instance, rangeS, maxPoints): rangeS 0 for the whole run.
  Napi::Value SeriesRange(const Napi::CallbackInfo &info) {
    uint64_t now = 0;
    const Process *p = processArg(info, now);
    if (!p) return info.Env().Null();
    return seriesRangeView(info.Env(), *p, now, static_cast<uint64_t>(info[1].As<Napi::Number>().DoubleValue()),
                           info[2].As<Napi::Number>().Uint32Value());
  }

  Napi::Value Sweep(const Napi::CallbackInfo &info) {
    auto ms = [&](size_t i) { return static_cast<uint64_t>(info[i].As<Napi::Number>().DoubleValue() * 1e6); };
    store_.sweep(serverNowNs(), ms(0), ms(1), info[2].As<Napi::Number>().Uint32Value());
    return info.Env().Undefined();
  }

  // metrics() -> what /metrics needs (metrics_view.h).
  Napi::Value Metrics(const Napi::CallbackInfo &info) { return metricsView(info.Env(), store_, serverNowNs()); }

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

} // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeStore", NativeStoreWrap::Define(env));
  exports.Set("protocolLayout", Napi::Function::New(env, ProtocolLayout));
  exports.Set("viewLayout", Napi::Function::New(env, ViewLayout));
  exports.Set("ingestLimits", Napi::Function::New(env, [](const Napi::CallbackInfo &info) -> Napi::Value {
                return limitsObject(info.Env(), IngestLimits{});
              }));
  // Peer credentials (peer.h): -1 when unknown.
  exports.Set("unixPeerUid", Napi::Function::New(env, [](const Napi::CallbackInfo &info) -> Napi::Value {
                return Napi::Number::New(info.Env(),
                                         static_cast<double>(unixPeerUid(info[0].As<Napi::Number>().Int32Value())));
              }));
  exports.Set("tcpPeerUid", Napi::Function::New(env, [](const Napi::CallbackInfo &info) -> Napi::Value {
                int64_t uid = tcpPeerUid(
                    info[0].As<Napi::String>(), static_cast<uint16_t>(info[1].As<Napi::Number>().Uint32Value()),
                    info[2].As<Napi::String>(), static_cast<uint16_t>(info[3].As<Napi::Number>().Uint32Value()));
                return Napi::Number::New(info.Env(), static_cast<double>(uid));
              }));
  // Where processes of this user keep their totals files for a socket (region_directory.h).
  exports.Set(
      "regionDirectory", Napi::Function::New(env, [](const Napi::CallbackInfo &info) -> Napi::Value {
        std::string socketPath = info[0].As<Napi::String>().Utf8Value();
        char directory[PATH_MAX];
        if (!gw_region_directory(socketPath.c_str(), static_cast<unsigned>(geteuid()), directory, sizeof directory))
          return info.Env().Null();
        return Napi::String::New(info.Env(), directory);
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
