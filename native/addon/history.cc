// Density bins and per-second series (see history.h).
#include "history.h"

#include <algorithm>

namespace gilwatch {

void DensityBins::add(LaneKind kind, uint64_t startNs, uint64_t endNs) {
  if (endNs <= startNs) endNs = startNs + 1;
  if (bins_.empty()) bins_.resize(kBinCount);
  uint64_t first = startNs / kBinNs;
  uint64_t last = (endNs - 1) / kBinNs;
  if (last - first >= kBinCount) first = last - kBinCount + 1;  // older bins would be overwritten anyway
  size_t k = static_cast<size_t>(kind);
  for (uint64_t i = first; i <= last; i++) {
    DensityBin &b = bins_[i % kBinCount];
    if (b.index != static_cast<uint32_t>(i)) b = DensityBin{static_cast<uint32_t>(i), {}, {}};
    uint64_t from = std::max(startNs, i * kBinNs);
    uint64_t to = std::min(endNs, (i + 1) * kBinNs);
    uint32_t us = static_cast<uint32_t>(b.busyUs[k]) + static_cast<uint32_t>((to - from) / 1000);
    b.busyUs[k] = static_cast<uint16_t>(std::min<uint32_t>(us, kBinNs / 1000));
    if (i == first && b.count[k] < UINT16_MAX) b.count[k]++;
  }
}

SecondSample &SecondSeries::at(uint64_t second) {
  if (samples_.empty()) samples_.resize(kSeconds);
  SecondSample &s = samples_[second % kSeconds];
  if (s.second != second) {
    s = SecondSample{};
    s.second = second;
  }
  return s;
}

double bucketQuantile(const std::array<uint32_t, kDurationBuckets + 1> &counts, double q) {
  uint64_t total = 0;
  for (uint32_t c : counts) total += c;
  if (total == 0) return 0;
  double rank = q * static_cast<double>(total);
  uint64_t seen = 0;
  for (size_t i = 0; i < counts.size(); i++) {
    if (counts[i] == 0) continue;
    if (static_cast<double>(seen + counts[i]) >= rank) {
      double lower = i == 0 ? 0 : static_cast<double>(kDurationBucketsNs[i - 1]);
      double upper = i < kDurationBuckets ? static_cast<double>(kDurationBucketsNs[i]) : lower * 2;
      double within = (rank - static_cast<double>(seen)) / static_cast<double>(counts[i]);
      return lower + (upper - lower) * within;
    }
    seen += counts[i];
  }
  return static_cast<double>(kDurationBucketsNs[kDurationBuckets - 1]);
}

}  // namespace gilwatch
