// Density bins and per-second series (see history.h).
#include "history.h"

#include <algorithm>

namespace gilwatch {

DensityBin &DensityBins::slot(uint64_t index) {
  newest_ = std::max(newest_, index);
  if (bins_.empty()) bins_.resize(kInitialBins);
  for (;;) {
    DensityBin &b = bins_[index % bins_.size()];
    if (b.index == static_cast<uint32_t>(index)) return b;
    // A full ring, or a slot whose bin left the window: reuse it, as a plain ring would.
    if (bins_.size() == kBinCount || !live(b)) return b = DensityBin{static_cast<uint32_t>(index), {}, {}};
    // Two bins of the window in one slot: double and place the live bins again (at
    // kBinCount the window's bins cannot collide).
    std::vector<DensityBin> old = std::move(bins_);
    for (size_t size = std::min(old.size() * 2, kBinCount);; size = std::min(size * 2, kBinCount)) {
      bins_.assign(size, DensityBin{});
      bool collided = false;
      for (const DensityBin &o : old) {
        if (!live(o)) continue;
        DensityBin &to = bins_[o.index % size];
        if (to.index != UINT32_MAX) collided = true;
        to = o;
      }
      if (!collided || size == kBinCount) break;
    }
  }
}

void DensityBins::add(LaneKind kind, uint64_t startNs, uint64_t endNs) {
  if (endNs <= startNs) endNs = startNs + 1;
  uint64_t first = startNs / kBinNs;
  uint64_t last = (endNs - 1) / kBinNs;
  if (last - first >= kBinCount) first = last - kBinCount + 1; // older bins would be overwritten anyway
  size_t k = static_cast<size_t>(kind);
  for (uint64_t i = first; i <= last; i++) {
    DensityBin &b = slot(i);
    uint64_t from = std::max(startNs, i * kBinNs);
    uint64_t to = std::min(endNs, (i + 1) * kBinNs);
    uint32_t us = static_cast<uint32_t>(b.busyUs[k]) + static_cast<uint32_t>((to - from) / 1000);
    b.busyUs[k] = static_cast<uint16_t>(std::min<uint32_t>(us, kBinNs / 1000));
    if (i == first && b.count[k] < UINT16_MAX) b.count[k]++;
  }
}

SecondSample &SecondSeries::at(uint64_t second) {
  newest_ = samples_.empty() ? second : std::max(newest_, second);
  if (samples_.empty()) samples_.resize(kInitialSeconds);
  for (;;) {
    SecondSample &s = samples_[second % samples_.size()];
    if (s.second == second) return s;
    // A full ring, or a slot whose second left the window: reuse it, as a plain ring would.
    if (samples_.size() == kSeconds || !live(s)) {
      s = SecondSample{};
      s.second = second;
      return s;
    }
    // Two seconds of the window in one slot: double and place the live seconds again.
    std::vector<SecondSample> old = std::move(samples_);
    for (size_t size = std::min(old.size() * 2, kSeconds);; size = std::min(size * 2, kSeconds)) {
      samples_.assign(size, SecondSample{});
      bool collided = false;
      for (const SecondSample &o : old) {
        if (!live(o)) continue;
        SecondSample &to = samples_[o.second % size];
        if (to.second != UINT64_MAX) collided = true;
        to = o;
      }
      if (!collided || size == kSeconds) break;
    }
  }
}

} // namespace gilwatch
