// What /metrics needs (server/metrics.ts writes it out; definitions in docs/metrics.md).
#pragma once

#include <napi.h>

#include "store.h"

namespace gilwatch {

// Per process its GILs, its labelled threads (plus "other") and its non-GIL range
// histograms. Retired processes are left out, and so are whole processes beyond
// IngestLimits::metricsSeries: the largest first (ties: the newest first), so many or huge
// processes cannot make the scrape fail or crawl for the ordinary ones (counted as a
// metrics_series overflow). -> {processes, processesDropped, seriesDropped}
Napi::Value metricsView(Napi::Env env, NativeStore &store, uint64_t serverNowNs);

} // namespace gilwatch
