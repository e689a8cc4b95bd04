// What the dashboard draws, kept beside the raw recent ranges: long ranges exactly, short
// ones as 20 ms density bins (30 s), and the GIL series in tiers (1 s for an hour, 1 min for
// a day, 10 min for 30 days). Bounded per thread and per GIL whatever the event rate.
#pragma once

#include <algorithm>
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
  uint64_t newest() const { return newest_; } // the latest bin index seen: the window is the kBinCount up to it

 private:
  static constexpr size_t kInitialBins = 8;
  DensityBin &slot(uint64_t index);
  bool live(const DensityBin &b) const {
    return b.index != UINT32_MAX && static_cast<uint64_t>(b.index) + kBinCount > newest_;
  }
  std::vector<DensityBin> bins_; // allocated on first use
  uint64_t newest_ = 0;          // the latest bin index seen
};

// One slot of one GIL's series: a second, or a minute or ten in the coarser tiers.
struct SeriesSample {
  uint64_t slot = UINT64_MAX; // sender clock / (the tier's width in ns)
  uint64_t holdNs = 0;        // time held within the slot
  uint64_t waitNs = 0;        // thread-time waited within it
  uint64_t acquisitions = 0;  // holds that ended in it
  uint64_t dropRequests = 0;
  uint64_t holdMaxNs = 0;
  uint64_t waitMaxNs = 0;
  std::array<uint32_t, kDurationBuckets + 1> holdBuckets{};
  std::array<uint32_t, kDurationBuckets + 1> waitBuckets{};
};

// A tier of the history: slots of widthS seconds, the last `slots` of them kept.
struct SeriesTier {
  uint64_t widthS;
  size_t slots;
};
constexpr size_t kSeriesTiers = 3;
// 1 s for an hour, 1 min for a day, 10 min for 30 days: 224 bytes a slot, so at most
// 2.1 MB per GIL of a process that runs 30 days, and a process that lives a second costs
// one slot per tier (the rings grow with use).
constexpr std::array<SeriesTier, kSeriesTiers> kDefaultSeriesTiers{{{1, 3600}, {60, 1440}, {600, 4320}}};

// The last `slots` slots of one tier, slot i in place i % size. Like DensityBins it starts
// small and doubles only when two slots of the window need one place: a process that lives a
// second costs one sample, not a full ring (a recording of 20 000 short processes took
// 1.5 GB to replay before).
class SampleRing {
 public:
  SampleRing() = default;
  explicit SampleRing(SeriesTier tier) : tier_(tier) {}
  SeriesSample &at(uint64_t slot);
  const SeriesSample *find(uint64_t slot) const {
    if (samples_.empty()) return nullptr;
    const SeriesSample &s = samples_[slot % samples_.size()];
    return s.slot == slot ? &s : nullptr;
  }
  SeriesTier tier() const { return tier_; }
  uint64_t widthNs() const { return tier_.widthS * 1'000'000'000; }
  uint64_t newest() const { return newest_; }
  size_t capacity() const { return samples_.size(); }

 private:
  static constexpr size_t kInitialSlots = 4;
  bool live(const SeriesSample &s) const { return s.slot != UINT64_MAX && s.slot + tier_.slots > newest_; }
  SeriesTier tier_{1, 300};
  std::vector<SeriesSample> samples_; // allocated on first use
  uint64_t newest_ = 0;               // the latest slot seen
  SeriesSample discarded_;            // where writes older than the window go
};

// One GIL's series in every tier: each count goes to the slot of every tier it falls in.
class GilSeries {
 public:
  int64_t interp = 0; // whose GIL
  void configure(const std::array<SeriesTier, kSeriesTiers> &tiers) {
    for (size_t i = 0; i < kSeriesTiers; i++)
      rings_[i] = SampleRing(SeriesTier{std::max<uint64_t>(tiers[i].widthS, 1), std::max<size_t>(tiers[i].slots, 1)});
  }
  // Time within [startNs, endNs) split across the slots it covers (within each tier's window).
  void addTime(bool hold, uint64_t startNs, uint64_t endNs);
  // What happened at `ns` (a hold or wait that ended, a drop request): `f` on each tier's slot.
  template <typename F>
  void at(uint64_t ns, F f) {
    for (SampleRing &ring : rings_) f(ring.at(ns / ring.widthNs()));
  }
  const SampleRing &tier(size_t i) const { return rings_[i]; }
  // A retired process keeps its coarser tiers only (its service's history), not its seconds.
  void dropFinest() { rings_[0] = SampleRing(rings_[0].tier()); }

 private:
  std::array<SampleRing, kSeriesTiers> rings_;
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
