// The GIL's series of one process for the dashboard's charts, as plain rows of
// SeriesColumn::kColumns numbers (view_layout.h), one table per GIL. Whatever the tier, a row
// says the same things: per second rates and fractions over its slot, and the durations of
// the holds and waits that ended in it.
#pragma once

#include <cstdint>
#include <vector>

#include "store.h"

namespace gilwatch {

struct GilSeriesRows {
  int64_t interp;
  uint64_t firstSlot; // in slots of widthS seconds of the process's clock
  uint64_t widthS;
  std::vector<double> rows; // SeriesColumn::kColumns per slot, from firstSlot on
};

// The live charts: seconds from fromSecond (at most the last kLiveSeconds, none before the
// process came) up to the current one, which is left out while the process runs: incomplete.
constexpr uint64_t kLiveSeconds = 300;
std::vector<GilSeriesRows> computeSeries(const Process &p, uint64_t clientNow, uint64_t fromSecond);

// The last rangeS seconds (0: the whole run), from the finest tier that still has their start
// and gives at most maxPoints rows. The slots at either end count for the part of them the
// process lived: the current one while it runs, the one it started in.
std::vector<GilSeriesRows> computeSeriesRange(const Process &p, uint64_t clientNow, uint64_t rangeS, size_t maxPoints);

} // namespace gilwatch
