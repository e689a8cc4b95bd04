// Views of one process for the dashboard and the run summary (see process_views.cc).
#pragma once

#include <napi.h>

#include "store.h"

namespace gilwatch {

// A process's instance id as the API writes it: 16 hex digits.
std::string hex64(uint64_t value);

// Which process a view is of (instance, pid, service, argv) and whether its totals are in.
Napi::Object processIdentity(Napi::Env env, const Process &p);
Napi::Value causeObject(Napi::Env env, const Process &process, const HoldCause *cause); // null without one
Napi::Value timelineView(Napi::Env env, const NativeStore &store, const Process &p, uint64_t clientNow, double startNs,
                         double endNs, double pxNs);
Napi::Value longHoldsView(Napi::Env env, const NativeStore &store, const Process &p, uint64_t clientNow,
                          double thresholdNs, uint32_t limit);
// The process's worst holds of its whole run, longest first (store.h: WorstHold).
Napi::Value worstHoldsView(Napi::Env env, const Process &p, uint32_t limit);
Napi::Object worstHoldObject(Napi::Env env, const Process &p, const WorstHold &hold); // one of them
// The timeline snapshot kept with worst hold `id`; null if there is none (yet).
Napi::Value worstHoldTimelineView(Napi::Env env, const Process &p, uint32_t id);
Napi::Value seriesView(Napi::Env env, const Process &p, uint64_t clientNow, uint64_t fromSecond);
// The last rangeS seconds of the run (0: all of it) at the tier that fits maxPoints rows.
Napi::Value seriesRangeView(Napi::Env env, const Process &p, uint64_t clientNow, uint64_t rangeS, uint32_t maxPoints);
// The `limit` threads that held the GIL longest since the process connected, with how many
// threads used it in all.
Napi::Value threadsView(Napi::Env env, const Process &p, uint64_t clientNow, uint32_t limit);
// The same over [fromNs, toNs) of the process's clock, from its threads' history: whole slots
// of its tier (widthS), from fromMs (wall) for durationNs; forgotten threads as one row.
Napi::Value threadsRangeView(Napi::Env env, const Process &p, uint64_t clientNow, double fromNs, double toNs,
                             uint32_t limit);
Napi::Value summaryView(Napi::Env env, const NativeStore &store, const Process &p, uint64_t clientNow,
                        uint32_t topHolds);

// ---- api_views.cc ----
// /api/processes: processes with their threads, range totals and open ranges, bounded per
// process (IngestLimits::api*) and in all (apiResponseBytes). -> {processes, processesOmitted}
Napi::Value processesView(Napi::Env env, const NativeStore &store, uint64_t serverNowNs);
// One process as processesView() shows it, with a budget of its own; null if even that is too small.
Napi::Value processView(Napi::Env env, const NativeStore &store, const Process &p, uint64_t serverNowNs);
// Every process without its threads: cheap enough for many calls a second (the process picker).
Napi::Value processListView(Napi::Env env, const NativeStore &store);
// Recent completed ranges, oldest first; onlyThread < 0: every thread.
// Ranges matching (thread, sinceNs), in each thread's order, after the first `offset`.
// The services: the processes of each (its name and owner), oldest run first.
Napi::Value servicesView(Napi::Env env, const NativeStore &store, uint64_t serverNowNs);
// One service's history across its runs (its main GIL, at most maxPoints rows a run, maxRows in
// all, the newest runs first); null for an unknown id.
// One service's worst holds across its runs, longest first, each with its run's instance and
// pid; null for an unknown id.
Napi::Value serviceWorstHoldsView(Napi::Env env, const NativeStore &store, uint64_t id, uint32_t limit);
Napi::Value serviceSeriesView(Napi::Env env, const NativeStore &store, uint64_t id, uint32_t maxPoints,
                              uint32_t maxRows, uint64_t serverNowNs);
Napi::Value rangesView(Napi::Env env, const Process &p, int64_t onlyThread, double sinceNs, size_t offset,
                       size_t limit);

} // namespace gilwatch
