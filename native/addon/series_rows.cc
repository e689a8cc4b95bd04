#include "series_rows.h"

#include <algorithm>
#include <array>

namespace gilwatch {

std::vector<GilSeriesRows> computeSeries(const Process &p, uint64_t clientNow, uint64_t fromSecond) {
  uint64_t nowSecond = clientNow / 1'000'000'000;
  uint64_t first =
      std::max<uint64_t>(fromSecond, nowSecond >= SecondSeries::kSeconds ? nowSecond - SecondSeries::kSeconds + 1 : 0);
  first = std::max<uint64_t>(first, p.helloMonotonicNs / 1'000'000'000); // nothing before the process came
  // The current second is incomplete while the process runs; once it left, it is final.
  uint64_t end = p.state == ProcessState::Connected ? nowSecond : nowSecond + 1;
  std::vector<GilSeriesRows> out;
  for (const SecondSeries &series : p.seconds) {
    GilSeriesRows table{series.interp, first, {}};
    for (uint64_t second = first; second < end; second++) {
      const SecondSample *s = series.find(second);
      SecondSample empty;
      if (!s) s = &empty;
      std::array<double, SeriesColumn::kColumns> row{};
      row[SeriesColumn::Wall] = p.wallMs(second * 1'000'000'000);
      row[SeriesColumn::Held] = static_cast<double>(s->holdNs) / 1e9;
      row[SeriesColumn::Waiting] = static_cast<double>(s->waitNs) / 1e9;
      row[SeriesColumn::Acquisitions] = static_cast<double>(s->acquisitions);
      row[SeriesColumn::HoldP50] = bucketQuantile(s->holdBuckets, 0.5) / 1e9;
      row[SeriesColumn::HoldP99] = bucketQuantile(s->holdBuckets, 0.99) / 1e9;
      row[SeriesColumn::HoldMax] = static_cast<double>(s->holdMaxNs) / 1e9;
      row[SeriesColumn::WaitP50] = bucketQuantile(s->waitBuckets, 0.5) / 1e9;
      row[SeriesColumn::WaitP99] = bucketQuantile(s->waitBuckets, 0.99) / 1e9;
      row[SeriesColumn::WaitMax] = static_cast<double>(s->waitMaxNs) / 1e9;
      row[SeriesColumn::DropRequests] = static_cast<double>(s->dropRequests);
      table.rows.insert(table.rows.end(), row.begin(), row.end());
    }
    out.push_back(std::move(table));
  }
  return out;
}

} // namespace gilwatch
