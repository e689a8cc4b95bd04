#include "series_rows.h"

#include <algorithm>
#include <array>

namespace gilwatch {

// One slot as a row; `spanNs`: the part of the slot the rates are over.
static void appendRow(std::vector<double> &rows, const Process &p, const SeriesSample *s, uint64_t slotStartNs,
                      double spanNs) {
  SeriesSample empty;
  if (!s) s = &empty;
  double spanS = std::max(spanNs, 1.0) / 1e9;
  std::array<double, SeriesColumn::kColumns> row{};
  row[SeriesColumn::Wall] = p.wallMs(slotStartNs);
  row[SeriesColumn::Held] = static_cast<double>(s->holdNs) / 1e9 / spanS;
  row[SeriesColumn::Waiting] = static_cast<double>(s->waitNs) / 1e9 / spanS;
  row[SeriesColumn::Acquisitions] = static_cast<double>(s->acquisitions) / spanS;
  row[SeriesColumn::HoldP50] = bucketQuantile(s->holdBuckets, 0.5) / 1e9;
  row[SeriesColumn::HoldP99] = bucketQuantile(s->holdBuckets, 0.99) / 1e9;
  row[SeriesColumn::HoldMax] = static_cast<double>(s->holdMaxNs) / 1e9;
  row[SeriesColumn::WaitP50] = bucketQuantile(s->waitBuckets, 0.5) / 1e9;
  row[SeriesColumn::WaitP99] = bucketQuantile(s->waitBuckets, 0.99) / 1e9;
  row[SeriesColumn::WaitMax] = static_cast<double>(s->waitMaxNs) / 1e9;
  row[SeriesColumn::DropRequests] = static_cast<double>(s->dropRequests) / spanS;
  row[SeriesColumn::Span] = spanS;
  rows.insert(rows.end(), row.begin(), row.end());
}

std::vector<GilSeriesRows> computeSeries(const Process &p, uint64_t clientNow, uint64_t fromSecond) {
  uint64_t nowSecond = clientNow / 1'000'000'000;
  uint64_t first = std::max<uint64_t>(fromSecond, nowSecond >= kLiveSeconds ? nowSecond - kLiveSeconds + 1 : 0);
  first = std::max<uint64_t>(first, p.startMonotonicNs / 1'000'000'000); // nothing before the process came
  // The current second is incomplete while the process runs; once it left, it is final.
  uint64_t end = p.state == ProcessState::Connected ? nowSecond : nowSecond + 1;
  std::vector<GilSeriesRows> out;
  for (const GilSeries &series : p.series) {
    GilSeriesRows table{series.interp, first, 1, {}};
    for (uint64_t second = first; second < end; second++)
      appendRow(table.rows, p, series.tier(0).find(second), second * 1'000'000'000, 1e9);
    out.push_back(std::move(table));
  }
  return out;
}

std::vector<GilSeriesRows> computeSeriesRange(const Process &p, uint64_t clientNow, uint64_t rangeS, size_t maxPoints) {
  uint64_t fromNs = p.startMonotonicNs;
  if (rangeS && clientNow > rangeS * 1'000'000'000) fromNs = std::max(fromNs, clientNow - rangeS * 1'000'000'000);
  std::vector<GilSeriesRows> out;
  for (const GilSeries &series : p.series) {
    // The finest tier that still has the start and gives at most maxPoints rows (a retired
    // process has dropped its finest: GilSeries::dropFinest).
    size_t t = 0;
    for (; t + 1 < kSeriesTiers; t++) {
      const SampleRing &ring = series.tier(t);
      if (!ring.capacity()) continue;
      uint64_t slots = clientNow / ring.widthNs() - fromNs / ring.widthNs() + 1;
      // A range of exactly the tier's length covers one slot more, partly: its oldest is gone.
      if (slots <= ring.tier().slots + 1 && slots <= maxPoints) break;
    }
    const SampleRing &ring = series.tier(t);
    uint64_t width = ring.widthNs(), first = fromNs / width, last = clientNow / width;
    if (last - first >= ring.tier().slots) first = last - ring.tier().slots + 1;
    if (last - first >= maxPoints) first = last - maxPoints + 1;
    GilSeriesRows table{series.interp, first, ring.tier().widthS, {}};
    for (uint64_t slot = first; slot <= last; slot++) {
      uint64_t from = std::max(slot * width, p.startMonotonicNs), to = std::min((slot + 1) * width, clientNow);
      if (to <= from) continue; // before the process, or after its now
      appendRow(table.rows, p, ring.find(slot), from, static_cast<double>(to - from)); // WALL: where its span starts
    }
    out.push_back(std::move(table));
  }
  return out;
}

} // namespace gilwatch
