// The per-second GIL figures of one process for the dashboard's charts, as plain rows of
// SeriesColumn::kColumns numbers (view_layout.h), one table per GIL.
#pragma once

#include <cstdint>
#include <vector>

#include "store.h"

namespace gilwatch {

struct GilSeriesRows {
  int64_t interp;
  uint64_t firstSecond;
  std::vector<double> rows; // SeriesColumn::kColumns per second, from firstSecond on
};

// The seconds from fromSecond (at most the last SecondSeries::kSeconds, none before the
// process came) up to the current one, which is left out while the process runs: incomplete.
std::vector<GilSeriesRows> computeSeries(const Process &p, uint64_t clientNow, uint64_t fromSecond);

} // namespace gilwatch
