#include "services.h"

#include <algorithm>
#include <unordered_map>

namespace gilwatch {

uint64_t serviceId(const Process &p) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](unsigned char c) { h = (h ^ c) * 1099511628211ull; };
  for (char c : p.owner) mix(static_cast<unsigned char>(c));
  mix(0);
  for (char c : p.service) mix(static_cast<unsigned char>(c));
  return h;
}

std::vector<ServiceRuns> groupServices(const NativeStore &store) {
  std::vector<ServiceRuns> out;
  std::unordered_map<uint64_t, size_t> index;
  for (const auto &process : store.processes()) {
    uint64_t id = serviceId(*process);
    auto [it, added] = index.emplace(id, out.size());
    if (added) out.push_back(ServiceRuns{id, {}});
    out[it->second].runs.push_back(process.get());
  }
  auto start = [](const Process *p) { return p->helloRealtimeNs; };
  for (ServiceRuns &s : out)
    std::sort(s.runs.begin(), s.runs.end(), [&](const Process *a, const Process *b) { return start(a) < start(b); });
  std::sort(out.begin(), out.end(),
            [&](const ServiceRuns &a, const ServiceRuns &b) { return start(a.runs.back()) > start(b.runs.back()); });
  return out;
}

} // namespace gilwatch
