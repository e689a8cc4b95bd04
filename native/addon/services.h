// The processes of one service (GILWATCH_SERVICE, else the program's name) stitched into one
// history: a service restarted during a soak is one line of charts with each restart marked.
// A service is its name *and* the credentials that started its processes (Process::owner):
// another user's process that takes the same name is another service.
#pragma once

#include <cstdint>
#include <vector>

#include "store.h"

namespace gilwatch {

struct ServiceRuns {
  uint64_t id;                       // serviceId() of its runs
  std::vector<const Process *> runs; // oldest first (by their start)
};

// FNV-1a over the owner and the name: a stable id the API names the service by.
uint64_t serviceId(const Process &p);
// Every service the store keeps a process of, the one with the newest run first.
std::vector<ServiceRuns> groupServices(const NativeStore &store);

} // namespace gilwatch
