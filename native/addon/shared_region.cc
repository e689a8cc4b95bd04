// Reading a process's shared totals region (see shared_region.h).
#include "shared_region.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace gilwatch {

namespace {

template <typename T>
T loadAcquire(const T *p) {
  return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

const gw_shared_slot *slotAt(const gw_shared_header *header, uint32_t i) {
  return reinterpret_cast<const gw_shared_slot *>(header + 1) + i;
}

// A seqlocked copy: retried while the writer is at work; after that, taken as it is (a
// writer that died mid-update never finishes: its last hold counts half).
template <typename Copy>
void seqlocked(const uint32_t *seq, Copy copy) {
  for (int attempt = 0; attempt < 1000; attempt++) {
    uint32_t before = loadAcquire(seq);
    if (before & 1) continue;
    copy();
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (loadAcquire(seq) == before) return;
  }
  copy();
}

} // namespace

std::string regionPath(const std::string &directory, uint64_t instance) {
  char name[32];
  std::snprintf(name, sizeof name, "%016llx", static_cast<unsigned long long>(instance));
  return directory + "/" + name + GW_SHARED_SUFFIX;
}

std::unique_ptr<SharedRegion> SharedRegion::open(const std::string &path, int64_t ownerUid, uint64_t instance,
                                                 std::string &why) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    why = path + ": " + std::strerror(errno);
    return nullptr;
  }
  struct stat st;
  bool ok = fstat(fd, &st) == 0;
  if (!ok || !S_ISREG(st.st_mode)) {
    why = path + " is not a regular file";
  } else if (ownerUid >= 0 && st.st_uid != static_cast<uid_t>(ownerUid)) {
    why = path + " belongs to uid " + std::to_string(st.st_uid) + ", not to the process's user " +
          std::to_string(ownerUid);
    ok = false;
  } else if (static_cast<uint64_t>(st.st_size) != GW_SHARED_REGION_BYTES) {
    why = path + " is " + std::to_string(st.st_size) + " bytes, not a totals region";
    ok = false;
  }
  void *memory = ok ? mmap(nullptr, GW_SHARED_REGION_BYTES, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
  ::close(fd);
  if (memory == MAP_FAILED) {
    if (ok) why = path + ": cannot map it";
    return nullptr;
  }
  auto *header = static_cast<const gw_shared_header *>(memory);
  if (loadAcquire(&header->magic) != GW_SHARED_MAGIC || header->version != GW_SHARED_VERSION ||
      header->slots != GW_SHARED_SLOTS || header->size != GW_SHARED_REGION_BYTES ||
      (instance && header->instance != instance)) {
    why = path + " is not a totals region of this protocol" + (instance ? " and instance" : "");
    munmap(memory, GW_SHARED_REGION_BYTES);
    return nullptr;
  }
  return std::unique_ptr<SharedRegion>(new SharedRegion(header, path));
}

SharedRegion::~SharedRegion() { munmap(const_cast<gw_shared_header *>(header_), GW_SHARED_REGION_BYTES); }

SharedRegion::Snapshot SharedRegion::read() const {
  Snapshot out;
  out.state = loadAcquire(&header_->state);
  out.droppedEvents = loadAcquire(&header_->dropped_events);
  // Only the slots ever claimed: the rest of the file is holes, and reading them would give
  // it pages it never needed.
  uint32_t used = std::min<uint32_t>(loadAcquire(&header_->slots_used), GW_SHARED_SLOTS);
  for (uint32_t i = 0; i < used; i++) {
    const gw_shared_slot *slot = slotAt(header_, i);
    if (!loadAcquire(&slot->thread)) continue;
    Slot copy;
    gw_gil_totals gil[GW_GIL_SLOTS];
    uint32_t count = 0;
    seqlocked(&slot->seq, [&] {
      copy.thread = loadAcquire(&slot->thread);
      copy.tid = loadAcquire(&slot->tid);
      copy.exited = loadAcquire(&slot->exited) != 0;
      count = std::min<uint32_t>(loadAcquire(&slot->count), GW_GIL_SLOTS);
      std::memcpy(gil, slot->gil, sizeof gil);
    });
    if (!copy.thread) continue; // folded meanwhile
    char name[sizeof slot->name];
    seqlocked(&slot->name_seq, [&] { std::memcpy(name, slot->name, sizeof name); });
    name[sizeof name - 1] = 0;
    copy.name = name;
    copy.totals.assign(gil, gil + count);
    out.slots.push_back(std::move(copy));
  }
  gw_gil_totals retired[GW_GIL_SLOTS];
  uint32_t retiredCount = 0;
  seqlocked(&header_->retired_seq, [&] {
    retiredCount = std::min<uint32_t>(loadAcquire(&header_->retired_count), GW_GIL_SLOTS);
    std::memcpy(retired, header_->retired, sizeof retired);
  });
  out.retired.assign(retired, retired + retiredCount);
  for (const gw_shared_contention &c : header_->contention) {
    if (!loadAcquire(&c.used)) continue;
    out.contention.push_back(gw_gil_contention{c.interp, loadAcquire(&c.contended_ns), loadAcquire(&c.waiters), 0});
  }
  return out;
}

bool SharedRegion::processGone() const {
  char path[64], buffer[1024];
  std::snprintf(path, sizeof path, "/proc/%u/stat", header_->pid);
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return true;
  ssize_t n = ::read(fd, buffer, sizeof buffer - 1);
  ::close(fd);
  if (n <= 0) return true;
  buffer[n] = 0;
  const char *p = std::strrchr(buffer, ')');
  char state = 0;
  unsigned long long start = 0;
  if (!p || std::sscanf(p + 1, " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                        &state, &start) != 2)
    return true;
  return state == 'Z' || state == 'X' || start != header_->start_ticks;
}

void SharedRegion::remove() const { ::unlink(path_.c_str()); }

} // namespace gilwatch
