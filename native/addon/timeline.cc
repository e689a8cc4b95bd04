// Downsampling for the timeline: the raw ring where it reaches, density bins and the exactly
// kept long ranges before it, open ranges up to the process's now.
#include "timeline.h"

#include <algorithm>
#include <array>
#include <unordered_map>

namespace gilwatch {
namespace {

// Merges sub-pixel ranges of one kind that are within a pixel of each other.
class LaneBuilder {
 public:
  explicit LaneBuilder(double pxNs) : pxNs_(pxNs) {}
  void add(const TimelineEntry &item) {
    size_t k = item.flags & kTimelineKindMask;
    double duration = item.end - item.start;
    if (duration < pxNs_ && last_[k] >= 0) {
      TimelineEntry &prev = items_[static_cast<size_t>(last_[k])];
      // An open range stays an item of its own: it is drawn as open, up to now.
      if (!(prev.flags & kTimelineOpen) && !(item.flags & kTimelineOpen) && item.start <= prev.end + pxNs_ &&
          item.message == prev.message) {
        prev.end = std::max(prev.end, item.end);
        prev.count += item.count;
        prev.busyNs += item.busyNs;
        return;
      }
    }
    items_.push_back(item);
    last_[k] = duration < pxNs_ ? static_cast<long>(items_.size() - 1) : -1;
  }
  std::vector<TimelineEntry> take() { return std::move(items_); }

 private:
  double pxNs_;
  std::vector<TimelineEntry> items_;
  std::array<long, kLaneKinds> last_ = {-1, -1, -1};
};

// Strings of a response, sent once, referenced by index. Index 0 is "": no one name (a
// density bin counts ranges of any name).
class StringIndex {
 public:
  static constexpr uint32_t kNoName = 0;
  explicit StringIndex(std::vector<uint32_t> &out) : out_(out) { out_.assign(1, 0); }
  uint32_t of(uint32_t id) {
    auto found = index_.find(id);
    if (found != index_.end()) return found->second;
    uint32_t i = static_cast<uint32_t>(out_.size());
    out_.push_back(id);
    index_.emplace(id, i);
    return i;
  }

 private:
  std::vector<uint32_t> &out_;
  std::unordered_map<uint32_t, uint32_t> index_;
};

} // namespace

Timeline computeTimeline(const NativeStore &store, const Process &p, uint64_t clientNow, double startNs, double endNs,
                         double pxNs) {
  pxNs = std::max(pxNs, 1.0);
  Timeline out;
  StringIndex strings(out.messages);
  for (const auto &[id, threadPtr] : p.threads) {
    const Thread &t = *threadPtr;
    if (static_cast<double>(t.lastEndNs) < startNs && t.open.empty() && t.recent.size() == 0) continue;
    LaneBuilder lane(pxNs);
    auto range = [&](const auto &r, uint32_t open, double until) {
      return TimelineEntry{static_cast<double>(r.startNs),
                           until,
                           static_cast<uint32_t>(store.laneOf(r.domain, r.message)) | open,
                           1,
                           until - static_cast<double>(r.startNs),
                           strings.of(r.message)};
    };
    // Where the raw ring's coverage begins: older time comes from density bins and the
    // exactly kept long ranges.
    double rawFrom =
        t.recent.pushed() > t.recent.size() && t.recent.size() ? static_cast<double>(t.recent.at(0).endNs) : 0;
    if (startNs < rawFrom) {
      double until = std::min(endNs, rawFrom);
      // Only the bins the density still holds (the last kBinCount): older time has none, and
      // a window's bounds are the client's or the sender's to choose.
      uint64_t newest = t.density.newest(), oldest = newest >= kBinCount ? newest - kBinCount + 1 : 0;
      auto ns = [](double v) { return v <= 0 ? 0 : v >= 1.8e19 ? UINT64_MAX : static_cast<uint64_t>(v); };
      uint64_t firstBin = std::max<uint64_t>(ns(startNs) / kBinNs, oldest);
      uint64_t lastBin = std::min<uint64_t>(ns(until) / kBinNs, newest);
      size_t n = t.density.capacity() && firstBin <= lastBin ? static_cast<size_t>(lastBin - firstBin + 1) : 0;
      // The long ranges kept exactly were counted in the bins too (DensityBins::add: the count
      // in the first bin, the time in each): taken out again, in O(ranges + bins). Those older
      // than the ring are drawn exactly, after the bins; those still in it, from it.
      std::array<std::vector<double>, kLaneKinds> takenCount, takenBusy, wholeBins;
      for (size_t k = 0; k < kLaneKinds; k++) {
        takenCount[k].assign(n, 0);
        takenBusy[k].assign(n, 0);
        wholeBins[k].assign(n + 1, 0); // a difference array: the bins wholly covered
      }
      std::vector<TimelineEntry> longRanges;
      for (size_t i = 0; i < t.significant.size(); i++) {
        const RecentRange &r = t.significant.at(i);
        if (static_cast<double>(r.startNs) >= rawFrom) continue; // all of it in the ring
        if (static_cast<double>(r.endNs) < startNs || static_cast<double>(r.startNs) > until) continue;
        TimelineEntry item = range(r, 0, static_cast<double>(r.endNs));
        if (static_cast<double>(r.endNs) < rawFrom) longRanges.push_back(item);
        if (!n) continue;
        size_t k = item.flags & kTimelineKindMask;
        uint64_t end = std::max(r.endNs, r.startNs + 1), first = r.startNs / kBinNs, last = (end - 1) / kBinNs;
        if (last - first >= kBinCount) first = last - kBinCount + 1;
        if (first >= firstBin && first <= lastBin) takenCount[k][first - firstBin] += 1;
        uint64_t lo = std::max(first, firstBin), hi = std::min(last, lastBin);
        if (lo > hi) continue;
        auto part = [&](uint64_t b) {
          uint64_t from = std::max(r.startNs, b * kBinNs), to = std::min(end, (b + 1) * kBinNs);
          return to > from ? static_cast<double>(to - from) : 0.0;
        };
        takenBusy[k][lo - firstBin] += part(lo);
        if (hi > lo) takenBusy[k][hi - firstBin] += part(hi);
        if (hi > lo + 1) {
          wholeBins[k][lo + 1 - firstBin] += static_cast<double>(kBinNs);
          wholeBins[k][hi - firstBin] -= static_cast<double>(kBinNs);
        }
      }
      for (size_t k = 0; k < kLaneKinds; k++) {
        double whole = 0;
        for (size_t i = 0; i < n; i++) takenBusy[k][i] += (whole += wholeBins[k][i]);
      }
      double perItem = pxNs / static_cast<double>(kBinNs); // a client's pixel can be any width
      uint64_t binsPerItem = perItem >= static_cast<double>(std::max<size_t>(n, 1))
                                 ? std::max<size_t>(n, 1)
                                 : std::max<uint64_t>(1, static_cast<uint64_t>(perItem));
      for (uint64_t b = firstBin; n && b <= lastBin; b += binsPerItem) {
        for (size_t k = 0; k < kLaneKinds; k++) {
          double busy = 0, count = 0;
          for (uint64_t i = b; i < b + binsPerItem && i <= lastBin; i++) {
            if (const DensityBin *bin = t.density.at(i)) {
              // A bin's time saturates at the bin (busyUs): what is left is at least zero.
              busy += std::max(0.0, bin->busyUs[k] * 1000.0 - takenBusy[k][i - firstBin]);
              count += std::max(0.0, bin->count[k] - takenCount[k][i - firstBin]);
            }
          }
          if (count > 0) {
            double from = static_cast<double>(b * kBinNs),
                   to = static_cast<double>(std::min(b + binsPerItem, lastBin + 1) * kBinNs);
            lane.add(TimelineEntry{from, to, static_cast<uint32_t>(k), count, busy, StringIndex::kNoName});
          }
        }
      }
      for (const TimelineEntry &item : longRanges) lane.add(item);
    }
    // The raw ring, newest first until before the window (entries are in end order).
    std::vector<const RecentRange *> raw;
    for (size_t i = t.recent.size(); i-- > 0;) {
      const RecentRange &r = t.recent.at(i);
      if (static_cast<double>(r.endNs) < std::max(startNs, rawFrom)) break;
      if (r.kind == EventKind::Range && static_cast<double>(r.startNs) <= endNs) raw.push_back(&r);
    }
    for (size_t i = raw.size(); i-- > 0;) lane.add(range(*raw[i], 0, static_cast<double>(raw[i]->endNs)));
    for (const OpenRange &o : t.open) {
      if (static_cast<double>(o.startNs) > endNs) continue;
      lane.add(range(o, kTimelineOpen, static_cast<double>(std::max(clientNow, o.startNs))));
    }
    std::vector<TimelineEntry> items = lane.take();
    if (!items.empty()) out.lanes.push_back(TimelineLane{t.id, t.tid, t.name, t.exited, std::move(items)});
  }
  return out;
}

} // namespace gilwatch
