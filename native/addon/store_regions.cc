// The store's side of the shared totals regions (shared_region.h; layout and rules in the
// protocol header): mapping a process's region at HELLO, reading it a last time once the
// process is gone, and adopting the regions left by processes that ended while no server
// was there to see them.
#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "gil_totals.h"
#include "store.h"

namespace gilwatch {

const char *NativeStore::totalsState(const Process &process) {
  if (process.state == ProcessState::Connected) return "live";
  if (process.finalStatus || process.regionFinal) return "final";
  if (process.region) return "pending";
  return "incomplete";
}

void NativeStore::openRegion(Process &process, const std::string &directory, int64_t uid) {
  if (process.region || process.regionFinal) return;
  auto waiting = waitingRegions_.find(process.instance);
  if (waiting != waitingRegions_.end()) {
    process.region = std::move(waiting->second);
    waitingRegions_.erase(waiting);
    return;
  }
  std::string why; // absent or unusable: the process counts only through frames (TCP-like)
  process.region = SharedRegion::open(regionPath(directory, process.instance), uid, process.instance, why);
}

void NativeStore::applyRegion(Process &process, const SharedRegion::Snapshot &snapshot, bool ended,
                              uint64_t serverNowNs) {
  process.totalsSeen = true;
  // The region is a restatement of every thread not folded, like a new connection's.
  for (auto &[id, thread] : process.threads) thread->restated = false;
  for (auto &[id, refused] : process.refusedTotals) refused.restated = false;
  for (const SharedRegion::Slot &slot : snapshot.slots) {
    Thread *thread = process.thread(slot.thread);
    if (!thread && !process.refused(slot.thread)) {
      std::string_view name(slot.name);
      if (name.size() > options_.limits.threadNameBytes) name = name.substr(0, options_.limits.threadNameBytes);
      thread = defineThread(process, slot.thread, slot.tid, name);
    }
    if (thread) thread->restated = true;
    gilTotals(process, thread, slot.thread, slot.totals.data(), static_cast<uint32_t>(slot.totals.size()));
    if (thread && slot.exited && !thread->exited) threadExit(*thread, process.clientNowNs(serverNowNs), serverNowNs);
  }
  process.droppedEvents = std::max(process.droppedEvents, snapshot.droppedEvents);
  process.pendingRetired = snapshot.retired;
  process.hasPendingRetired = true;
  settleRetired(process, serverNowNs);
  for (const gw_gil_contention &c : snapshot.contention) {
    GilAccount &gil = process.gil(admitInterp(process, c.interp));
    if (c.contended_ns > gil.senderContendedNs) {
      gil.contendedNs += c.contended_ns - gil.senderContendedNs;
      gil.senderContendedNs = c.contended_ns;
    }
    gil.waitersNow = ended ? 0 : c.waiters;
  }
  if (ended) {
    process.gilOpen.clear();
    placeThreadHistory(process, process.viewNowNs(serverNowNs)); // no STATUS comes after these
  }
}

bool NativeStore::finishRegion(Process &process, uint64_t serverNowNs) {
  if (!process.region || process.state == ProcessState::Connected || !process.region->processGone()) return false;
  applyRegion(process, process.region->read(), true, serverNowNs);
  process.regionFinal = true;
  process.region->remove();
  process.region.reset();
  return true;
}

void NativeStore::settleRegions(uint64_t serverNowNs) {
  for (auto &process : processes_) finishRegion(*process, serverNowNs);
  for (auto it = waitingRegions_.begin(); it != waitingRegions_.end();) {
    if (!it->second->processGone()) {
      ++it;
      continue;
    }
    std::unique_ptr<SharedRegion> region = std::move(it->second);
    it = waitingRegions_.erase(it);
    adoptEnded(std::move(region), serverNowNs);
  }
}

// A process that ended while no server followed it: listed as ended, with what its region says.
void NativeStore::adoptEnded(std::unique_ptr<SharedRegion> region, uint64_t serverNowNs) {
  const gw_shared_header &h = region->header();
  if (find(h.instance)) return;
  processes_.push_back(std::make_unique<Process>());
  Process &process = *processes_.back();
  byInstance_.emplace(h.instance, &process);
  process.strings = strings_;
  process.unlistedThreads.configure(options_.threadTiers);
  process.instance = h.instance;
  process.owner = "uid " + std::to_string(geteuid());
  process.domainIds.assign(GW_MAX_DOMAINS, Process::kUndefined);
  process.domainIds[GW_DEFAULT_DOMAIN] = 0;
  process.pid = h.pid;
  process.ppid = h.ppid;
  std::string_view service(h.service, strnlen(h.service, sizeof h.service));
  process.service = std::string(service.substr(0, options_.limits.serviceBytes));
  process.helloMonotonicNs = h.monotonic_ns;
  process.startMonotonicNs = h.monotonic_ns;
  process.helloRealtimeNs = h.realtime_ns;
  process.helloServerNs = serverNowNs;
  process.state = ProcessState::Disconnected;
  process.disconnectedServerNs = serverNowNs;
  process.stateChangedServerNs = serverNowNs;
  applyRegion(process, region->read(), true, serverNowNs);
  process.regionFinal = true;
  region->remove();
}

size_t NativeStore::scanRegions(const std::string &directory, int64_t uid, uint64_t serverNowNs) {
  DIR *dir = opendir(directory.c_str());
  if (!dir) return 0;
  size_t adopted = 0, seen = 0;
  const size_t suffix = std::strlen(GW_SHARED_SUFFIX);
  while (dirent *entry = readdir(dir)) {
    std::string_view name(entry->d_name);
    if (name.size() != 16 + suffix || name.substr(16) != GW_SHARED_SUFFIX) continue;
    if (name.find_first_not_of("0123456789abcdef") < 16) continue;
    if (++seen > options_.limits.liveProcesses) break; // bounded, whatever the directory holds
    uint64_t instance = std::strtoull(std::string(name.substr(0, 16)).c_str(), nullptr, 16);
    if (find(instance) || waitingRegions_.count(instance)) continue;
    std::string why;
    std::unique_ptr<SharedRegion> region = SharedRegion::open(directory + "/" + std::string(name), uid, instance, why);
    if (!region) continue;
    if (region->processGone()) {
      adoptEnded(std::move(region), serverNowNs);
      adopted++;
    } else {
      waitingRegions_.emplace(instance, std::move(region));
    }
  }
  closedir(dir);
  return adopted;
}

} // namespace gilwatch
