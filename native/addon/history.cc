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

void GilSeries::addTime(bool hold, uint64_t startNs, uint64_t endNs) {
  for (SampleRing &ring : rings_) {
    uint64_t width = ring.widthNs(), first = startNs / width, last = endNs / width;
    if (last - first >= ring.tier().slots) first = last - ring.tier().slots + 1; // older slots are gone anyway
    for (uint64_t slot = first; slot <= last; slot++) {
      uint64_t from = std::max(startNs, slot * width), to = std::min(endNs, (slot + 1) * width);
      if (to > from) (hold ? ring.at(slot).holdNs : ring.at(slot).waitNs) += to - from;
    }
  }
}

void ThreadHistory::add(const ThreadHistory &other) {
  for (size_t i = 0; i < kThreadTiers; i++) {
    TierRing<ThreadSample> &into = rings_[i];
    if (into.tier().widthS != other.rings_[i].tier().widthS) continue; // not configured alike
    other.rings_[i].forEach([&](const ThreadSample &s) { addSample(into.at(s.slot), s); });
  }
}

} // namespace gilwatch
