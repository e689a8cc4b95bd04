// What the live dashboard draws, kept beside the raw recent ranges: long ranges exactly,
// short ones as 20 ms density bins (30 s), and per-second GIL series (5 minutes). Bounded
// per thread and per GIL whatever the event rate.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "gil_metrics.h"
#include "../protocol/view_layout.h"

namespace gilwatch {

constexpr uint64_t kBinNs = 20'000'000;        // 20 ms
constexpr size_t kBinCount = 1500;             // 30 s
constexpr uint64_t kSignificantNs = 1'000'000; // ranges of 1 ms or more are kept exactly

struct DensityBin {
  uint32_t index = UINT32_MAX;               // bin number (time / kBinNs), truncated; UINT32_MAX = empty
  std::array<uint16_t, kLaneKinds> busyUs{}; // per LaneKind, µs covered within the bin
  std::array<uint16_t, kLaneKinds> count{};
};

// A ring of the last kBinCount bins, bin i in slot i % size. It starts small and doubles
// only when two bins of the window need the same slot: a short-lived thread (thread churn)
// costs a few bins, not the 24 KB of a full ring.
class DensityBins {
 public:
  // Spreads [start, end) over the bins it covers (at most the last kBinCount).
  void add(LaneKind kind, uint64_t startNs, uint64_t endNs);
  const DensityBin *at(uint64_t index) const {
    if (bins_.empty()) return nullptr;
    const DensityBin &b = bins_[index % bins_.size()];
    return b.index == static_cast<uint32_t>(index) ? &b : nullptr;
  }
  size_t capacity() const { return bins_.size(); }

 private:
  static constexpr size_t kInitialBins = 8;
  DensityBin &slot(uint64_t index);
  bool live(const DensityBin &b) const {
    return b.index != UINT32_MAX && static_cast<uint64_t>(b.index) + kBinCount > newest_;
  }
  std::vector<DensityBin> bins_; // allocated on first use
  uint64_t newest_ = 0;          // the latest bin index seen
};

// One second of one GIL, for the dashboard's 5-minute charts.
struct SecondSample {
  uint64_t second = UINT64_MAX; // sender clock / 1e9
  uint64_t holdNs = 0;
  uint64_t waitNs = 0;
  uint64_t acquisitions = 0;
  uint64_t dropRequests = 0;
  uint64_t holdMaxNs = 0;
  uint64_t waitMaxNs = 0;
  std::array<uint32_t, kDurationBuckets + 1> holdBuckets{};
  std::array<uint32_t, kDurationBuckets + 1> waitBuckets{};
};

// The last kSeconds seconds, second i in slot i % size. Like DensityBins it starts small and
// doubles only when two seconds of the window need one slot: a process that lives a second
// costs one sample (224 bytes), not the 67 KB of a full ring (a recording of 20 000 short
// processes took 1.5 GB to replay before).
class SecondSeries {
 public:
  static constexpr size_t kSeconds = 300;
  int64_t interp = 0; // whose GIL
  SecondSample &at(uint64_t second);
  const SecondSample *find(uint64_t second) const {
    if (samples_.empty()) return nullptr;
    const SecondSample &s = samples_[second % samples_.size()];
    return s.second == second ? &s : nullptr;
  }
  size_t capacity() const { return samples_.size(); }

 private:
  static constexpr size_t kInitialSeconds = 4;
  bool live(const SecondSample &s) const { return s.second != UINT64_MAX && s.second + kSeconds > newest_; }
  std::vector<SecondSample> samples_; // allocated on first use
  uint64_t newest_ = 0;               // the latest second seen
};

// Quantile estimate in ns from per-bucket counts (linear within the bucket).
template <typename Count>
double bucketQuantile(const std::array<Count, kDurationBuckets + 1> &counts, double q) {
  uint64_t total = 0;
  for (Count c : counts) total += c;
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

} // namespace gilwatch
