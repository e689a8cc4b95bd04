// Views of one process for the dashboard and the run summary (see process_views.cc).
#pragma once

#include <napi.h>

#include "store.h"

namespace gilwatch {

// A process's instance id as the API writes it: 16 hex digits.
std::string hex64(uint64_t value);

Napi::Value causeObject(Napi::Env env, const Process &process, const HoldCause *cause); // null without one
Napi::Value timelineView(Napi::Env env, const NativeStore &store, const Process &p, uint64_t clientNow, double startNs,
                         double endNs, double pxNs);
Napi::Value longHoldsView(Napi::Env env, const NativeStore &store, const Process &p, uint64_t clientNow,
                          double thresholdNs, uint32_t limit);
Napi::Value seriesView(Napi::Env env, const Process &p, uint64_t clientNow, uint64_t fromSecond);
// The `limit` threads that held the GIL longest since the process connected, with how many
// threads used it in all.
Napi::Value threadsView(Napi::Env env, const Process &p, uint64_t clientNow, uint32_t limit);
Napi::Value summaryView(Napi::Env env, const NativeStore &store, const Process &p, uint64_t clientNow,
                        uint32_t topHolds);

} // namespace gilwatch
