#include "thread_table.h"

#include <algorithm>

namespace gilwatch {

ThreadTable computeThreadTable(const Process &p, uint64_t clientNow, uint64_t fromNs, uint64_t toNs, size_t limit) {
  ThreadTable table;
  toNs = std::min(toNs, clientNow);
  fromNs = std::max(fromNs, p.startMonotonicNs);
  if (toNs <= fromNs) toNs = fromNs + 1;
  // The tiers are alike in every thread's history and the forgotten threads'.
  size_t t = p.state == ProcessState::Retired ? kThreadTiers - 1 : 0;
  for (; t + 1 < kThreadTiers; t++) {
    SeriesTier tier = p.unlistedThreads.tier(t).tier();
    uint64_t width = tier.widthS * 1'000'000'000;
    if (clientNow / width - fromNs / width < tier.slots) break;
  }
  SeriesTier tier = p.unlistedThreads.tier(t).tier();
  uint64_t width = tier.widthS * 1'000'000'000;
  uint64_t first = fromNs / width, last = (toNs - 1) / width;
  if (clientNow / width >= tier.slots) first = std::max(first, clientNow / width - tier.slots + 1);
  table.widthS = tier.widthS;
  table.fromNs = std::max(first * width, p.startMonotonicNs);
  table.toNs = std::min((last + 1) * width, clientNow);

  auto sum = [&](const ThreadHistory &history) {
    ThreadSample total;
    history.tier(t).forEach([&](const ThreadSample &s) {
      if (s.slot >= first && s.slot <= last) addSample(total, s);
    });
    return total;
  };
  auto used = [](const ThreadSample &s) { return s.holds || s.waits || s.holdNs || s.waitNs; };
  std::vector<ThreadTableRow> rows;
  for (const auto &[id, thread] : p.threads) {
    ThreadSample s = sum(thread->history);
    if (used(s)) rows.push_back(ThreadTableRow{thread.get(), s});
  }
  ThreadSample forgotten = sum(p.unlistedThreads);
  if (used(forgotten)) rows.push_back(ThreadTableRow{nullptr, forgotten});
  table.total = rows.size();
  // Most held first; ties by the sender's thread id (the forgotten last), so the order does not flicker.
  auto order = [](const ThreadTableRow &a, const ThreadTableRow &b) {
    if (a.sum.holdNs != b.sum.holdNs) return a.sum.holdNs > b.sum.holdNs;
    uint64_t ia = a.thread ? a.thread->id : UINT64_MAX, ib = b.thread ? b.thread->id : UINT64_MAX;
    return ia < ib;
  };
  size_t shown = std::min(limit, rows.size());
  std::partial_sort(rows.begin(), rows.begin() + static_cast<long>(shown), rows.end(), order);
  rows.resize(shown);
  table.rows = std::move(rows);
  return table;
}

} // namespace gilwatch
