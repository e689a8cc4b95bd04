// What the dashboard draws, kept beside the raw recent ranges: long ranges exactly, short
// ones as 20 ms density bins (30 s), the GIL series in tiers (1 s for an hour, 1 min for a
// day, 10 min for 30 days) and each thread's history in tiers (10 s, 1 min, 10 min). Bounded
// per thread and per GIL whatever the event rate.
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
// 1.5 GB to replay before). `Sample` has a `slot` member, UINT64_MAX when empty.
template <typename Sample>
class TierRing {
 public:
  TierRing() = default;
  explicit TierRing(SeriesTier tier) : tier_(tier) {}
  Sample &at(uint64_t slot);
  const Sample *find(uint64_t slot) const {
    if (samples_.empty()) return nullptr;
    const Sample &s = samples_[slot % samples_.size()];
    return s.slot == slot ? &s : nullptr;
  }
  SeriesTier tier() const { return tier_; }
  uint64_t widthNs() const { return tier_.widthS * 1'000'000'000; }
  uint64_t newest() const { return newest_; }
  size_t capacity() const { return samples_.size(); }
  // Whether the window still has the slot that holds `ns` (the ring is empty: nothing yet).
  bool covers(uint64_t ns) const { return samples_.empty() || ns / widthNs() + tier_.slots > newest_; }
  template <typename F>
  void forEach(F f) const {
    for (const Sample &s : samples_)
      if (live(s)) f(s);
  }

 private:
  static constexpr size_t kInitialSlots = 4;
  bool live(const Sample &s) const { return s.slot != UINT64_MAX && s.slot + tier_.slots > newest_; }
  SeriesTier tier_{1, 300};
  std::vector<Sample> samples_; // allocated on first use
  uint64_t newest_ = 0;         // the latest slot seen
  Sample discarded_;            // where writes older than the window go
};
using SampleRing = TierRing<SeriesSample>;

template <typename Sample>
Sample &TierRing<Sample>::at(uint64_t slot) {
  // Older than the window (a late range, a sender's clock): it would take a live slot's place.
  if (!samples_.empty() && slot + tier_.slots <= newest_) return discarded_ = Sample{};
  newest_ = samples_.empty() ? slot : std::max(newest_, slot);
  if (samples_.empty()) samples_.resize(kInitialSlots);
  for (;;) {
    Sample &s = samples_[slot % samples_.size()];
    if (s.slot == slot) return s;
    // A full ring, or a place whose slot left the window: reuse it, as a plain ring would.
    if (samples_.size() >= tier_.slots || !live(s)) {
      s = Sample{};
      s.slot = slot;
      return s;
    }
    // Two slots of the window in one place: double and place the live slots again.
    std::vector<Sample> old = std::move(samples_);
    for (size_t size = std::min(old.size() * 2, tier_.slots);; size = std::min(size * 2, tier_.slots)) {
      samples_.assign(size, Sample{});
      bool collided = false;
      for (const Sample &o : old) {
        if (!live(o)) continue;
        Sample &to = samples_[o.slot % size];
        if (to.slot != UINT64_MAX) collided = true;
        to = o;
      }
      if (!collided || size == tier_.slots) break;
    }
  }
}

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

// One slot of one thread's history: what the process's own totals (GW_FRAME_GIL_TOTALS) said
// the thread did in it, all GILs together, so a range's sum is exact to the sender's tick.
struct ThreadSample {
  uint64_t slot = UINT64_MAX;
  uint64_t holdNs = 0, waitNs = 0;
  uint64_t holds = 0, waits = 0;
  uint64_t longestHoldNs = 0, longestHoldStartNs = 0; // the longest that began in the slot, as far as seen
};

// `s` added into `into`: its sums, and its longest hold if longer.
inline void addSample(ThreadSample &into, const ThreadSample &s) {
  into.holdNs += s.holdNs;
  into.waitNs += s.waitNs;
  into.holds += s.holds;
  into.waits += s.waits;
  if (s.longestHoldNs > into.longestHoldNs) {
    into.longestHoldNs = s.longestHoldNs;
    into.longestHoldStartNs = s.longestHoldStartNs;
  }
}

constexpr size_t kThreadTiers = 3;
// 10 s for an hour, 1 min for a day, 10 min for 30 days: 56 bytes a slot, 109 KB for a thread
// busy every slot of 24 hours; a thread that lives a second costs one slot per tier.
constexpr std::array<SeriesTier, kThreadTiers> kDefaultThreadTiers{{{10, 360}, {60, 1440}, {600, 4320}}};

// A thread's history in tiers, behind the dashboard's thread table over a chosen range.
class ThreadHistory {
 public:
  void configure(const std::array<SeriesTier, kThreadTiers> &tiers) {
    for (size_t i = 0; i < kThreadTiers; i++)
      rings_[i] = TierRing<ThreadSample>(
          SeriesTier{std::max<uint64_t>(tiers[i].widthS, 1), std::max<size_t>(tiers[i].slots, 1)});
  }
  // What happened at `ns`: `f` on each tier's slot.
  template <typename F>
  void at(uint64_t ns, F f) {
    for (TierRing<ThreadSample> &ring : rings_) f(ring.at(ns / ring.widthNs()));
  }
  // Another history's slots added to this one's (a forgotten thread's, into its process's).
  void add(const ThreadHistory &other);
  const TierRing<ThreadSample> &tier(size_t i) const { return rings_[i]; }
  // A retired process keeps its threads' coarsest tier only.
  void keepCoarsest() {
    for (size_t i = 0; i + 1 < kThreadTiers; i++) rings_[i] = TierRing<ThreadSample>(rings_[i].tier());
  }

 private:
  std::array<TierRing<ThreadSample>, kThreadTiers> rings_;
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
