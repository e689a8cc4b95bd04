// The timeline of one process as plain data: per thread lane, the ranges in [startNs, endNs]
// downsampled to the pixel width, sub-pixel ranges of one kind merged into one item that
// keeps their count and the time they cover. process_views.cc turns it into the
// TimelineItem rows of view_layout.h; test/fixtures/cc/store_units.cc checks it directly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store.h"

namespace gilwatch {

struct TimelineEntry {
  double start, end;
  uint32_t flags;   // the KIND column: LaneKind, | kTimelineOpen while still open
  double count;     // ranges it stands for
  double busyNs;    // time covered by them
  uint32_t message; // index into Timeline::messages; 0: no one name (a density bin)
  double fill() const { return end > start ? std::min(1.0, busyNs / (end - start)) : 1.0; }
};

struct TimelineLane {
  uint32_t thread; // the thread's id, tid and name, copied: a kept snapshot outlives it
  uint32_t tid;
  std::string name;
  bool exited;
  std::vector<TimelineEntry> items;
};

struct Timeline {
  std::vector<TimelineLane> lanes; // threads with something in the window
  // The messages items refer to, as the process's string ids (its StringTable lives as long
  // as it does, a kept snapshot too); [0] is 0: no one name.
  std::vector<uint32_t> messages;
  size_t lanesOmitted = 0; // a kept snapshot's lanes beyond its limit (worst_holds.cc)
};

// pxNs: the width of a pixel in ns (at least 1). clientNow: where open ranges end.
Timeline computeTimeline(const NativeStore &store, const Process &p, uint64_t clientNow, double startNs, double endNs,
                         double pxNs);

} // namespace gilwatch
