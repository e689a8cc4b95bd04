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
      uint64_t firstBin = static_cast<uint64_t>(std::max(0.0, startNs)) / kBinNs;
      uint64_t lastBin = static_cast<uint64_t>(until) / kBinNs;
      // Long ranges older than the ring are drawn exactly, and taken out of the density bins,
      // which counted them too (DensityBins::add: the count in the first bin, the time in each).
      std::unordered_map<uint64_t, std::array<std::pair<double, double>, kLaneKinds>> exact; // bin -> (count, busy)
      std::vector<TimelineEntry> longRanges; // drawn after the bins, as their own items
      for (size_t i = 0; i < t.significant.size(); i++) {
        const RecentRange &r = t.significant.at(i);
        if (static_cast<double>(r.endNs) >= rawFrom) continue; // still in the ring, drawn from there
        if (static_cast<double>(r.endNs) < startNs || static_cast<double>(r.startNs) > until) continue;
        TimelineEntry item = range(r, 0, static_cast<double>(r.endNs));
        longRanges.push_back(item);
        size_t k = item.flags & kTimelineKindMask;
        uint64_t end = std::max(r.endNs, r.startNs + 1), first = r.startNs / kBinNs, last = (end - 1) / kBinNs;
        if (last - first >= kBinCount) first = last - kBinCount + 1;
        for (uint64_t b = first; b <= last; b++) {
          uint64_t from = std::max(r.startNs, b * kBinNs), to = std::min(end, (b + 1) * kBinNs);
          auto &taken = exact[b][k];
          taken.first += b == first ? 1 : 0;
          taken.second += static_cast<double>(to - from);
        }
      }
      uint64_t binsPerItem = std::max<uint64_t>(1, static_cast<uint64_t>(pxNs / kBinNs));
      for (uint64_t b = firstBin; b <= lastBin; b += binsPerItem) {
        for (size_t k = 0; k < kLaneKinds; k++) {
          double busy = 0, count = 0;
          for (uint64_t i = b; i < b + binsPerItem && i <= lastBin; i++) {
            if (const DensityBin *bin = t.density.at(i)) {
              auto taken = exact.find(i);
              double takenCount = taken == exact.end() ? 0 : taken->second[k].first;
              double takenBusy = taken == exact.end() ? 0 : taken->second[k].second;
              // A bin's time saturates at the bin (busyUs): what is left after the exact
              // ranges is at least zero.
              busy += std::max(0.0, bin->busyUs[k] * 1000.0 - takenBusy);
              count += std::max(0.0, bin->count[k] - takenCount);
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
