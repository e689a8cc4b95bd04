// Why a long hold was long (HOLD_CAUSE): the causes a thread keeps, and the long-hold time
// per code site behind python_gil_long_hold_seconds_total.
#include "store.h"

#include <algorithm>

namespace gilwatch {

// "module:function" for a Python frame: the file's name without ".py" (a package's
// __init__.py: the package's directory), e.g. "/app/store.py", "Store.flush" -> "store:Store.flush".
static std::string siteName(const std::string &file, const std::string &function) {
  std::string_view path = file;
  if (path.size() >= 3 && path.substr(path.size() - 3) == ".py") path.remove_suffix(3);
  size_t slash = path.find_last_of('/');
  std::string_view module = slash == std::string_view::npos ? path : path.substr(slash + 1);
  if (module == "__init__" && slash != std::string_view::npos && slash > 0) {
    std::string_view dir = path.substr(0, slash);
    size_t up = dir.find_last_of('/');
    module = up == std::string_view::npos ? dir : dir.substr(up + 1);
  }
  return std::string(module.empty() ? "?" : module) + ":" + (function.empty() ? "?" : function);
}

void NativeStore::holdCause(Process &process, Thread &thread, const gw_hold_cause &c) {
  HoldCause *cause = nullptr;
  for (HoldCause &existing : thread.causes)
    if (existing.startNs == c.start_ns) cause = &existing;
  if (!cause) {
    if (thread.causes.size() >= Thread::kCausesKept) {
      // Room for the newest: the shortest hold outside the latest ones gives its place.
      auto older = thread.causes.end() - static_cast<long>(Thread::kCausesLatest);
      auto victim = std::min_element(thread.causes.begin(), older, [](const HoldCause &a, const HoldCause &b) {
        return a.lengthNs() < b.lengthNs();
      });
      thread.causes.erase(victim);
    }
    thread.causes.emplace_back();
    cause = &thread.causes.back();
  }
  bool wasFinal = cause->final;
  cause->startNs = c.start_ns;
  cause->final = c.flags & GW_CAUSE_FINAL;
  cause->framesMissing = c.flags & (GW_CAUSE_FRAMES_LOCKED | GW_CAUSE_FRAMES_LATE | GW_CAUSE_FRAMES_UNSEEN);
  cause->bracketed = (c.flags & GW_CAUSE_BRACKETED) != 0;
  cause->interp = c.interp;
  cause->sampledFromNs = c.sampled_from_ns;
  cause->sampledToNs = c.sampled_to_ns;
  cause->onCpuNs = c.on_cpu_ns;
  cause->runqueueNs = c.runqueue_ns;
  cause->blockedNs = c.blocked_ns;
  cause->majorFaults = c.major_faults;
  cause->samples = c.samples;
  cause->otherSamples = c.other_samples;
  // Sender message ids to this process's string ids; an id never defined reads as unknown (0).
  auto text = [&process](uint32_t id) -> uint32_t {
    return id != GW_NO_MESSAGE && id < process.messageIds.size() && process.messageIds[id] != Process::kUndefined
               ? process.messageIds[id]
               : 0;
  };
  for (size_t i = 0; i < GW_CAUSE_SYSCALLS; i++)
    cause->blockedIn[i] = {c.blocked_in[i].syscall, text(c.blocked_in[i].wait_site), c.blocked_in[i].ns};
  for (size_t i = 0; i < GW_CAUSE_OTHERS; i++) cause->others[i] = {c.others[i].syscall, c.others[i].thread_samples};
  if (c.frame_count) { // the first report that has them; later ones repeat them
    cause->frames.clear();
    for (size_t i = 0; i < c.frame_count && i < GW_CAUSE_FRAMES; i++)
      cause->frames.push_back({text(c.frames[i].function), text(c.frames[i].file), c.frames[i].line});
    cause->stackDepth = c.stack_depth;
  }
  if (cause->final && !wasFinal) {
    GilAccount &gil = process.gil(admitInterp(process, c.interp));
    std::string site = cause->frames.empty() ? "unknown"
                                             : siteName(process.strings.text(cause->frames[0].file),
                                                        process.strings.text(cause->frames[0].function));
    std::vector<LongHoldSite> &sites = gil.longHoldSites;
    LongHoldSite *slot = &sites.back(); // "other"
    for (LongHoldSite &s : sites)
      if (s.site == site) slot = &s;
    if (slot == &sites.back() && site != "other" && sites.size() <= options_.metrics.maxSites)
      slot = &*sites.insert(sites.end() - 1, LongHoldSite{site, {0, 0, 0}});
    slot->ns[0] += c.on_cpu_ns;
    slot->ns[1] += c.runqueue_ns;
    slot->ns[2] += c.blocked_ns;
  }
}

} // namespace gilwatch
