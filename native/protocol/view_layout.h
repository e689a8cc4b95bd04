// The flat numeric rows the addon's views hand to JavaScript (Float64Arrays, not objects:
// a timeline update carries thousands of items), defined once: the order of their columns
// and the codes in them. server/shared/views.ts mirrors each table (TimelineItem, LaneKind,
// SeriesColumn, ...); the addon exports them through viewLayout() and test/protocol.test.ts
// proves the two agree, so reordering a column on one side fails a test.
//
// Each table is an X-macro list of (C++ name, JavaScript name): the enum below and what
// viewLayout() exports are both generated from it, so neither can miss an entry. C++ only:
// the addon writes these rows (the injection library and the probe never see them).
#pragma once

#include <cstddef>
#include <cstdint>

namespace gilwatch {

#define GW_VIEW_ENUMERATOR(name, js) name,
#define GW_VIEW_COUNT(name, js)      +1

// A timeline item: one range, or sub-pixel ranges of one kind merged into one
// (process_views.cc: timelineView). server/dashboard.ts re-encodes START and END as µs
// from the view's start and rounds FILL; the column order stays.
#define GW_TIMELINE_ITEM(X)                                                         \
  X(Start, START)     /* ns, the process's CLOCK_MONOTONIC */                       \
  X(End, END)         /* ns; an open range ends at the process's "now" */           \
  X(Kind, KIND)       /* LaneKind, | kTimelineOpen while the range is still open */ \
  X(Count, COUNT)     /* ranges the item stands for */                              \
  X(Fill, FILL)       /* 0..1: the part of [START, END] those ranges cover */       \
  X(Message, MESSAGE) /* index into the view's `strings` (density bins carry 0) */
struct TimelineItem {
  enum Field : size_t { GW_TIMELINE_ITEM(GW_VIEW_ENUMERATOR) kFields };
};

// The row of the timeline an item is drawn in: GIL holds, GIL waits, any other NVTX range.
// Also the index of DensityBin's per-kind arrays (history.h).
#define GW_LANE_KIND(X) \
  X(Hold, HOLD)         \
  X(Wait, WAIT)         \
  X(User, USER)
enum class LaneKind : uint8_t { GW_LANE_KIND(GW_VIEW_ENUMERATOR) };
constexpr size_t kLaneKinds = 0 GW_LANE_KIND(GW_VIEW_COUNT);
// An item's KIND column: the LaneKind in the low bits, plus a flag for a still-open range.
constexpr uint32_t kTimelineKindMask = 3;
constexpr uint32_t kTimelineOpen = 16;
static_assert(kLaneKinds <= kTimelineKindMask + 1 && (kTimelineOpen & kTimelineKindMask) == 0,
              "a LaneKind fits the mask and the open flag lies outside it");

// One slot of one GIL for the dashboard's charts (series_rows.cc): a second of the live
// charts, or a slot of a coarser history tier. Counts and times as rates per second over the
// part of the slot the process lived (SPAN); durations in seconds.
#define GW_SERIES_COLUMN(X)                                                                         \
  X(Wall, WALL)                 /* wall clock where SPAN starts, ms */                              \
  X(Held, HELD)                 /* seconds held per second: the fraction of the slot held */        \
  X(Waiting, WAITING)           /* thread-seconds waiting per second: threads waiting on average */ \
  X(Acquisitions, ACQUISITIONS) /* holds that ended in it, per second */                            \
  X(HoldP50, HOLD_P50)          /* of the holds that ended in it */                                 \
  X(HoldP99, HOLD_P99)                                                                              \
  X(HoldMax, HOLD_MAX)                                                                              \
  X(WaitP50, WAIT_P50) /* of the waits that ended in it */                                          \
  X(WaitP99, WAIT_P99)                                                                              \
  X(WaitMax, WAIT_MAX)                                                                              \
  X(DropRequests, DROP_REQUESTS) /* GIL drop requests (forced switches) in it, per second */        \
  X(Span, SPAN)                  /* seconds the rates are over: the slot, or the part of it lived */
struct SeriesColumn {
  enum Column : size_t { GW_SERIES_COLUMN(GW_VIEW_ENUMERATOR) kColumns };
};

#undef GW_VIEW_ENUMERATOR
#undef GW_VIEW_COUNT

} // namespace gilwatch
