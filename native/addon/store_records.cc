// Range records (RANGE, OPEN, START/END, MARK) into a thread's recent ranges, totals per
// (domain, message), the dashboard's history and the per-second GIL series.
#include "store.h"

#include <algorithm>

namespace gilwatch {

Totals &Thread::totalsFor(const TotalsKey &key, size_t maxKeys, bool &folded) {
  if (lastTotals < totals.size() && totals[lastTotals].first == key) return totals[lastTotals].second;
  for (size_t i = 0; i < totals.size(); i++) {
    if (totals[i].first == key) {
      lastTotals = i;
      return totals[i].second;
    }
  }
  if (totals.size() >= maxKeys) {
    TotalsKey other{1, 1, key.kind}; // "(other)" in every table
    if (!(key == other)) {
      folded = true;
      return totalsFor(other, SIZE_MAX, folded);
    }
  }
  totals.emplace_back(key, Totals{});
  lastTotals = totals.size() - 1;
  return totals.back().second;
}

void NativeStore::completeRange(Process &process, Thread &thread, const OpenRange &range, uint64_t endNs, uint8_t flags,
                                EventKind kind) {
  uint64_t duration = endNs > range.startNs ? endNs - range.startNs : 0;
  bool folded = false;
  Totals &totals =
      thread.totalsFor(TotalsKey{range.domain, range.message, kind}, options_.limits.rangeKeysPerThread, folded);
  if (folded) overflow(LimitKind::RangeKeys);
  totals.count++;
  totals.totalNs += duration;
  if (duration > totals.maxNs) totals.maxNs = duration;
  RecentRange recent{range.startNs, endNs, range.payload,     range.domain, range.message,
                     range.depth,   flags, range.payloadType, kind};
  thread.recent.push(recent);
  if (kind == EventKind::Range) {
    if (duration >= kSignificantNs) thread.significant.push(recent);
    thread.density.add(laneOf(range.domain, range.message), range.startNs, endNs);
    thread.lastEndNs = std::max(thread.lastEndNs, endNs);
  }
  if (range.domain != gilDomain_) {
    if (kind == EventKind::Range) addToRangeHistograms(process, range, duration);
  } else {
    addToGilSeries(process, thread, range, duration, endNs, kind);
    if (kind == EventKind::Range && range.message == holding_) considerWorstHold(process, thread, range, endNs);
  }
  process.rangesReceived++;
  counters_.rangesReceived++;
}

// nvtx_range_duration_seconds: the first maxRangeKeys (domain, message) pairs on their own.
void NativeStore::addToRangeHistograms(Process &process, const OpenRange &range, uint64_t durationNs) {
  for (RangeHistogram &h : process.rangeHistograms) {
    if (h.domain == range.domain && h.message == range.message) return h.histogram.add(durationNs);
  }
  if (process.rangeHistograms.size() < options_.metrics.maxRangeKeys) {
    process.rangeHistograms.push_back(RangeHistogram{range.domain, range.message, {}});
    return process.rangeHistograms.back().histogram.add(durationNs);
  }
  process.otherRanges.add(durationNs);
}

void NativeStore::addToGilSeries(Process &process, Thread &thread, const OpenRange &range, uint64_t durationNs,
                                 uint64_t endNs, EventKind kind) {
  int64_t interp = admitInterp(process, gw_interp_of(range.payloadType, range.payload));
  if (kind == EventKind::Mark) {
    GilSeries *series = range.message == dropRequest_ ? seriesOf(process, interp) : nullptr;
    if (series) series->at(range.startNs, [](SeriesSample &s) { s.dropRequests++; });
    return;
  }
  bool hold = range.message == holding_;
  if (!hold && range.message != waiting_) return;
  size_t bucket = durationBucket(durationNs); // one lookup for the three histograms below
  // The series: time split across the slots it covers, the rest at its end.
  GilSeries *series = seriesOf(process, interp);
  if (series) series->addTime(hold, range.startNs, endNs);
  // Every count (python_gil_* counters and histograms, the run summary) comes from the
  // process's own totals (GIL_TOTALS, the shared region): ranges are detail and may be
  // dropped. They feed what is about time: the dashboard's per-second series, and the
  // sliding-window longest hold (holds of GW_OPEN_REPORT_AFTER_NS or more are never dropped).
  if (hold) {
    if (series) {
      series->at(endNs, [&](SeriesSample &end) {
        end.acquisitions++;
        end.holdMaxNs = std::max(end.holdMaxNs, durationNs);
        end.holdBuckets[bucket]++;
      });
    }
    threadGil(process, thread, interp)
        .holdMax.add(endNs / (options_.metrics.holdMaxWindowNs / WindowMax::kSlots), durationNs);
    // The thread's longest hold in a range of its history: from the ranges seen (and the
    // sender's longest of its life, addGilIncrease).
    if (durationNs >= kSignificantNs)
      thread.history.at(range.startNs, [&](ThreadSample &s) {
        if (durationNs > s.longestHoldNs) {
          s.longestHoldNs = durationNs;
          s.longestHoldStartNs = range.startNs;
        }
      });
  } else if (series) {
    series->at(endNs, [&](SeriesSample &end) {
      end.waitMaxNs = std::max(end.waitMaxNs, durationNs);
      end.waitBuckets[bucket]++;
    });
  }
}

bool NativeStore::mapIds(const Process &process, const gw_record &record, uint32_t &domain, uint32_t &message,
                         std::string &error) const {
  if (record.domain >= GW_MAX_DOMAINS || process.domainIds[record.domain] == Process::kUndefined) {
    error = "record refers to undefined domain " + std::to_string(record.domain);
    return false;
  }
  domain = process.domainIds[record.domain];
  if (record.message == GW_NO_MESSAGE) {
    message = 0;
    return true;
  }
  if (record.message >= process.messageIds.size() || process.messageIds[record.message] == Process::kUndefined) {
    error = "record refers to undefined message " + std::to_string(record.message);
    return false;
  }
  message = process.messageIds[record.message];
  return true;
}

bool NativeStore::records(Process &process, Thread &thread, const gw_record *records, uint32_t count,
                          gw_decode_error &code, std::string &error) {
  code = GW_DECODE_UNKNOWN_ID;
  for (uint32_t i = 0; i < count; i++) {
    const gw_record &record = records[i];
    uint32_t domain = 0, message = 0;
    if (record.kind != GW_RECORD_END && !mapIds(process, record, domain, message, error)) return false;
    OpenRange range{domain, message, record.aux, record.depth, record.payload_type, record.start_ns, record.payload};
    switch (record.kind) {
      case GW_RECORD_RANGE: {
        if (!thread.open.empty()) {
          // This range ends what was reported open at its level or deeper in its domain and
          // started within it (itself, or ranges nested in it). An open range that started
          // after it ended is a newer one: the OPEN of the next hold can precede, in the same
          // batch, the RANGE of the wait before it.
          auto &open = thread.open;
          open.erase(std::remove_if(open.begin(), open.end(),
                                    [&](const OpenRange &o) {
                                      return o.domain == domain && o.depth >= record.depth &&
                                             (o.startNs == record.start_ns ||
                                              (o.startNs > record.start_ns && o.startNs < record.end_ns));
                                    }),
                     open.end());
        }
        completeRange(process, thread, range, record.end_ns, record.flags & GW_FLAG_CLOSED_BY_THREAD_EXIT,
                      EventKind::Range);
        break;
      }
      case GW_RECORD_OPEN: {
        auto &open = thread.open;
        auto same = std::find_if(open.begin(), open.end(),
                                 [&](const OpenRange &o) { return o.domain == domain && o.depth == record.depth; });
        if (same != open.end()) {
          *same = range;
        } else if (open.size() < options_.limits.openRangesPerThread) {
          open.push_back(range);
        } else {
          overflow(LimitKind::OpenRanges);
        }
        break;
      }
      case GW_RECORD_START: {
        auto ended = process.endedBeforeStart.find(record.aux);
        if (ended != process.endedBeforeStart.end()) {
          completeRange(process, thread, range, ended->second, 0, EventKind::Range);
          process.endedBeforeStart.erase(ended);
        } else if (process.started.size() < options_.maxStartedRanges) {
          process.started[record.aux] = StartedRange{thread.id, range};
        }
        break;
      }
      case GW_RECORD_END: {
        auto started = process.started.find(record.aux);
        if (started != process.started.end()) {
          Thread *starter = process.thread(started->second.thread);
          completeRange(process, starter ? *starter : thread, started->second.range, record.end_ns, 0,
                        EventKind::Range);
          process.started.erase(started);
        } else if (process.endedBeforeStart.size() < options_.maxStartedRanges) {
          process.endedBeforeStart[record.aux] = record.end_ns;
        }
        break;
      }
      case GW_RECORD_MARK: completeRange(process, thread, range, record.start_ns, 0, EventKind::Mark); break;
      default:
        code = GW_DECODE_BAD_RECORD;
        error = "unknown record kind " + std::to_string(record.kind);
        return false;
    }
  }
  return true;
}

} // namespace gilwatch
