/*
 * The shared totals region (layout and rules: the protocol header): where this process's
 * threads count their GIL holds and waits, readable by the server without the connection.
 *
 * The file lives beside the Unix socket, in a directory that the same checks as the socket's
 * (socket_path.c) prove is this user's alone, or, when that directory is on a disk, in a
 * directory of this user's on tmpfs named after the socket (region_directory.h). It is made unnamed (O_TMPFILE) and mapped
 * shared; the sender thread takes its descriptor into its own table at start (the program's
 * copy is closed at once: the program never sees one), and names the file when it first
 * connects to a server (gw_region_publish), which then finds it by that name. So a process
 * that never meets a server, or a fork child that execs or dies first, leaves nothing: an
 * unnamed file goes with its last reference. Elsewhere (TCP, an unsafe directory, no room)
 * the region is private memory: the numbers are the same, only frames carry them.
 *
 * Who writes what: a thread its own slot (gil_totals.c); thread registration claims slots and
 * the sender folds exited threads' slots into `retired`, both under the region's lock; the
 * sender writes slot names. Folding happens only when free slots run low, so a thread's own
 * numbers outlive it as long as there is room.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../protocol/region_directory.h"
#include "runtime.h"
#include "socket_path.h"

/* Fold exited threads once fewer than this many slots are free. */
#define GW_FOLD_BELOW (GW_SHARED_SLOTS / 4)

static uint32_t free_hint; /* where to start looking for a free slot (under the lock) */

static inline gw_shared_slot *slot_at(gw_shared_header *region, uint32_t i) {
  return (gw_shared_slot *)((char *)region + sizeof *region) + i;
}

static inline void lock(gw_shared_header *region) {
  while (__atomic_exchange_n(&region->lock, 1, __ATOMIC_ACQUIRE)) __builtin_ia32_pause();
}
static inline void unlock(gw_shared_header *region) { __atomic_store_n(&region->lock, 0, __ATOMIC_RELEASE); }

/* The process's start time in clock ticks (field 22 of /proc/self/stat): with the pid, it
 * names this process for the server even after the pid is reused. */
static uint64_t start_ticks(void) {
  char buffer[1024];
  int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buffer, sizeof buffer - 1);
  close(fd);
  if (n <= 0) return 0;
  buffer[n] = 0;
  const char *p = strrchr(buffer, ')'); /* the command name may contain anything */
  unsigned long long ticks = 0;
  if (!p ||
      sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu", &ticks) != 1)
    return 0;
  return ticks;
}

/* A file beside the socket, not yet named: O_TMPFILE makes it in the directory with no name,
 * so that a process that execs or dies before gw_region_publish leaves nothing behind (its
 * descriptor is close-on-exec, and an unnamed file goes with its last reference). NULL when
 * the directory is not safe or has no room; then `path` is empty. */
static gw_shared_header *map_file(char *path, size_t path_size, int *fd_out) {
  path[0] = 0;
  *fd_out = -1;
  if (gw_rt.config.transport != GW_TRANSPORT_UNIX) return NULL;
  char why[512];
  /* The socket's own checks: the directory must be this user's alone. A missing directory is
   * made (0700) so that a server started later finds the totals of processes that ran. */
  if (gw_socket_path_check(gw_rt.config.unix_path, why, sizeof why) < 0) return NULL;
  const char *slash = strrchr(gw_rt.config.unix_path, '/');
  size_t socket_directory_length = slash == gw_rt.config.unix_path ? 1 : (size_t)(slash - gw_rt.config.unix_path);
  char socket_directory[128];
  if (socket_directory_length >= sizeof socket_directory) return NULL;
  memcpy(socket_directory, gw_rt.config.unix_path, socket_directory_length);
  socket_directory[socket_directory_length] = 0;
  if (mkdir(socket_directory, 0700) != 0 && errno != EEXIST) return NULL;
  if (gw_socket_path_check(gw_rt.config.unix_path, why, sizeof why) < 0) return NULL; /* what now exists */
  /* On tmpfs: beside the socket, or a directory of ours in /dev/shm (region_directory.h). */
  char directory[128];
  if (!gw_region_directory(gw_rt.config.unix_path, (unsigned)geteuid(), directory, sizeof directory)) return NULL;
  int written =
      snprintf(path, path_size, "%s/%016llx%s", directory, (unsigned long long)gw_rt.instance, GW_SHARED_SUFFIX);
  if (written < 0 || (size_t)written >= path_size) {
    path[0] = 0;
    return NULL;
  }
  int fd = open(directory, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) {
    path[0] = 0;
    return NULL;
  }
  void *memory = MAP_FAILED;
  if (fchmod(fd, 0600) == 0 && ftruncate(fd, (off_t)GW_SHARED_REGION_BYTES) == 0)
    memory = mmap(NULL, GW_SHARED_REGION_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (memory == MAP_FAILED) {
    close(fd);
    path[0] = 0;
    return NULL;
  }
  *fd_out = fd;
  return memory;
}

void gw_region_publish(int fd) {
  if (fd < 0 || !gw_rt.region_path[0]) return;
  char source[64];
  snprintf(source, sizeof source, "/proc/thread-self/fd/%d", fd);
  /* A name exists already only if an instance id repeated: then this region stays unnamed. */
  if (linkat(AT_FDCWD, source, AT_FDCWD, gw_rt.region_path, AT_SYMLINK_FOLLOW) == 0) gw_rt.region_named = 1;
  close(fd);
}

void gw_region_handed_over(int taken) {
  int fd = gw_rt.region_fd;
  if (fd < 0) return;
  gw_rt.region_fd = -1;
  if (taken) {
    close(fd); /* the sender thread has its own copy, in its own table */
  } else {
    gw_region_publish(fd); /* no private table: named now, removed at exit if no server came */
  }
}

int gw_region_create(void) {
  char path[sizeof gw_rt.region_path];
  int fd;
  gw_shared_header *region = map_file(path, sizeof path, &fd);
  int file = region != NULL;
  if (!region) {
    void *memory = mmap(NULL, GW_SHARED_REGION_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) return 0;
    region = memory;
  }
  struct timespec monotonic, realtime;
  clock_gettime(CLOCK_MONOTONIC, &monotonic);
  clock_gettime(CLOCK_REALTIME, &realtime);
  region->version = GW_SHARED_VERSION;
  region->size = GW_SHARED_REGION_BYTES;
  region->slots = GW_SHARED_SLOTS;
  region->pid = (uint32_t)getpid();
  region->ppid = (uint32_t)getppid();
  region->state = GW_SHARED_RUNNING;
  region->instance = gw_rt.instance;
  region->start_ticks = start_ticks();
  region->monotonic_ns = (uint64_t)monotonic.tv_sec * 1000000000u + (uint64_t)monotonic.tv_nsec;
  region->realtime_ns = (uint64_t)realtime.tv_sec * 1000000000u + (uint64_t)realtime.tv_nsec;
  gw_copy_string(region->service, sizeof region->service, gw_rt.config.service);
  gw_store_release(&region->magic, GW_SHARED_MAGIC); /* last: a reader sees a whole header or none */
  /* A fork child leaves the parent's region to the parent (its mapping is shared). */
  if (gw_rt.region && gw_rt.region != region) munmap(gw_rt.region, GW_SHARED_REGION_BYTES);
  gw_rt.region = region;
  gw_rt.region_file = file;
  gw_rt.region_named = 0;
  if (gw_rt.region_fd >= 0) close(gw_rt.region_fd); /* a fork child's copy of the parent's */
  gw_rt.region_fd = fd;
  gw_copy_string(gw_rt.region_path, sizeof gw_rt.region_path, path);
  gw_rt.slots_high = 0;
  free_hint = 0;
  return 1;
}

gw_shared_slot *gw_region_claim(uint32_t thread, pid_t tid, const char *name) {
  gw_shared_header *region = gw_rt.region;
  gw_shared_slot *found = NULL;
  lock(region);
  for (uint32_t n = 0; n < GW_SHARED_SLOTS && !found; n++) {
    uint32_t i = (free_hint + n) % GW_SHARED_SLOTS;
    gw_shared_slot *slot = slot_at(region, i);
    if (slot->thread != 0) continue;
    /* Free slots are zeroed by the fold that freed them (or were never used). */
    slot->tid = (uint32_t)tid;
    gw_copy_string(slot->name, sizeof slot->name, name); /* its OS name, until the sender knows better */
    gw_store_release(&slot->thread, thread);
    free_hint = i + 1;
    if (i + 1 > gw_rt.slots_high) {
      gw_store_release(&gw_rt.slots_high, i + 1);
      gw_store_release(&region->slots_used, i + 1); /* a reader need not touch the slots beyond */
    }
    found = slot;
  }
  unlock(region);
  return found;
}

uint32_t gw_region_fold_exited(void (*folded)(uint32_t index, uint32_t thread)) {
  gw_shared_header *region = gw_rt.region;
  uint32_t high = gw_load_acquire(&gw_rt.slots_high);
  uint32_t free_slots = GW_SHARED_SLOTS - high; /* never claimed */
  for (uint32_t i = 0; i < high; i++) free_slots += gw_load_relaxed(&slot_at(region, i)->thread) == 0;
  if (free_slots >= GW_FOLD_BELOW) return 0;
  uint32_t count = 0;
  /* Up to half the slots free again, the exited ones in slot order. Each fold is its own
   * critical section: a producer waiting to claim a slot or count without one waits for
   * one fold, not for all. */
  for (uint32_t i = 0; i < high && free_slots < GW_SHARED_SLOTS / 2; i++) {
    gw_shared_slot *slot = slot_at(region, i);
    if (gw_load_acquire(&slot->exited) != 2) continue; /* reaped: nothing of the thread is left to send */
    uint32_t thread = slot->thread;
    lock(region);
    gw_store_relaxed(&region->retired_seq, region->retired_seq + 1);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    gw_gil_fold(region->retired, &region->retired_count, slot->gil, slot->count);
    gw_store_release(&region->retired_seq, region->retired_seq + 1);
    /* Odd while it is cleared: a reader that copied any of it meanwhile retries. */
    gw_store_relaxed(&slot->seq, slot->seq + 1);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memset((char *)slot + sizeof slot->seq, 0, sizeof *slot - sizeof slot->seq);
    gw_store_release(&slot->seq, slot->seq + 1);
    unlock(region);
    folded(i, thread);
    free_slots++;
    count++;
  }
  return count;
}

int gw_region_retired(gw_gil_totals *out, uint32_t *count) {
  gw_shared_header *region = gw_rt.region;
  for (int attempt = 0; attempt < 8; attempt++) {
    uint32_t before = gw_load_acquire(&region->retired_seq);
    if (before & 1) continue;
    uint32_t n = gw_load_relaxed(&region->retired_count);
    if (n > GW_GIL_SLOTS) n = GW_GIL_SLOTS;
    memcpy(out, region->retired, n * sizeof *out);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (gw_load_relaxed(&region->retired_seq) != before) continue;
    *count = n;
    return 1;
  }
  return 0;
}

void gw_region_exiting(int ever_connected) {
  gw_shared_header *region = gw_rt.region;
  if (!region) return;
  gw_store_release(&region->state, GW_SHARED_EXITED);
  /* Named at start for want of a private table, and no server ever knew this process: no
   * one would read the file. (Otherwise a region is named only once a server is there.) */
  if (gw_rt.region_named && !ever_connected) unlink(gw_rt.region_path);
}
