/*
 * Internal state of the gilwatch NVTX injection library, shared by its files.
 *
 * Threads that call NVTX (producers) each own a gw_thread: a stack per domain and a
 * single-producer/single-consumer ring of finished records. The sender thread
 * (sender.c) is the only consumer. A push or pop takes no lock, allocates nothing after the
 * thread's first event and makes no system call but clock_gettime (vDSO). The exceptions,
 * each off the common path: the begin and end of a GIL *wait* take that GIL's contention
 * spinlock (gil_totals.c; the thread is about to block or just unblocked); a thread that found
 * no totals slot counts under the region's lock; the end of a long GIL hold reads the
 * thread's CPU clock (sampler.c: gw_note_long_release); and the first event after a fork,
 * in a process whose sender stopped for it, starts the sender again (gw_sender_resume).
 */
#ifndef GILWATCH_RUNTIME_H
#define GILWATCH_RUNTIME_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "../protocol/gilwatch_protocol.h"

#define GW_LIKELY(x)   __builtin_expect(!!(x), 1)
#define GW_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define GW_EXPORT      __attribute__((visibility("default")))
#define GW_CACHELINE   64

/* Relaxed/acquire/release helpers on plain fields (GCC builtins, no _Atomic plumbing). */
#define gw_load_relaxed(p)     __atomic_load_n((p), __ATOMIC_RELAXED)
#define gw_load_acquire(p)     __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define gw_store_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define gw_store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* Copies a C string, truncating to fit (snprintf("%s") without its truncation warnings). */
static inline void gw_copy_string(char *out, size_t size, const char *in) {
  size_t n = 0;
  while (n + 1 < size && in[n]) n++;
  __builtin_memcpy(out, in, n);
  out[n] = 0;
}

/* ---- the clock (clock.c) ----
 * Every timestamp is CLOCK_MONOTONIC nanoseconds. Read with clock_gettime (24 ns on this kind
 * of VM) until the sender has calibrated the invariant TSC against it, then from the TSC
 * (10 ns): ns = base_ns + (tsc - base_tsc) * mult / 2^32. The sender re-anchors it every
 * second, continuously (the new line starts where the old one is) and slewed so that it
 * meets CLOCK_MONOTONIC within the next second: it never steps back. Readers take the
 * anchor under a seqlock. */
typedef struct gw_tsc_clock {
  uint32_t seq; /* odd while the sender writes an anchor */
  int enabled;  /* release-stored once calibrated; 0: clock_gettime */
  uint64_t base_tsc, base_ns;
  uint64_t mult; /* ns per TSC tick, 32.32 fixed point */
} gw_tsc_clock;
extern gw_tsc_clock gw_clock;

static inline uint64_t gw_monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t gw_now_ns(void) {
#if defined(__x86_64__)
  if (GW_LIKELY(gw_load_acquire(&gw_clock.enabled))) {
    for (;;) {
      uint32_t seq = gw_load_acquire(&gw_clock.seq);
      uint64_t tsc = __builtin_ia32_rdtsc();
      uint64_t base_tsc = gw_load_relaxed(&gw_clock.base_tsc), base_ns = gw_load_relaxed(&gw_clock.base_ns);
      uint64_t mult = gw_load_relaxed(&gw_clock.mult);
      __atomic_thread_fence(__ATOMIC_ACQUIRE);
      if (GW_UNLIKELY((seq & 1) || gw_load_relaxed(&gw_clock.seq) != seq)) continue;
      uint64_t ticks = tsc > base_tsc ? tsc - base_tsc : 0; /* a core's TSC a few ticks behind the anchor's */
      return base_ns + (uint64_t)(((unsigned __int128)ticks * mult) >> 32);
    }
  }
#endif
  return gw_monotonic_ns();
}

/* The sender, every tick: calibrates, enables and re-anchors the TSC clock. */
void gw_clock_tick(void);

/* ---- configuration (config.c) ---- */

enum gw_transport { GW_TRANSPORT_UNIX = 1, GW_TRANSPORT_TCP = 2 };

typedef struct gw_config {
  int transport;
  char unix_path[108];                /* sizeof(sockaddr_un.sun_path) */
  char token[GW_MAX_TOKEN_BYTES + 1]; /* GILWATCH_TOKEN(_FILE), sent in an AUTH frame; empty: none */
  char tcp_host[256];
  char tcp_port[16];
  char service[256];
  char domains[1024];   /* GILWATCH_DOMAINS, comma separated; empty = all */
  uint32_t ring_events; /* per-thread ring capacity, a power of two */
  uint32_t send_buffer_bytes;
  uint64_t long_hold_ns; /* GILWATCH_LONG_HOLD_MS: holds longer than this are sampled */
} gw_config;

/* Reads the environment. Returns 0 and writes a one-line reason to `why` when invalid. */
int gw_config_load(gw_config *config, char *why, size_t why_size);
/* Whether domain `name` is forwarded under GILWATCH_DOMAINS ("default" selects domain 0). */
int gw_config_domain_enabled(const gw_config *config, const char *name);

/* ---- interned strings (intern.c) ---- */

/* An append-only, lock-free table: text -> small id. Ids are dense, from 1. */
typedef struct gw_intern_entry {
  uint64_t hash;
  uint32_t offset; /* into the arena */
  uint16_t length;
  uint16_t ready; /* release-stored once text, hash and length are written */
} gw_intern_entry;

typedef struct gw_intern_table {
  uint32_t capacity;   /* ids 1..capacity-1 */
  uint32_t slot_mask;  /* open-addressing index of ids, 2 * capacity slots */
  uint32_t next_id;    /* atomically incremented */
  uint32_t arena_used; /* atomically incremented */
  uint32_t arena_size;
  uint32_t overflow_id; /* returned when full: the text "(other)" */
  uint32_t *slots;
  gw_intern_entry *entries;
  char *arena;
} gw_intern_table;

int gw_intern_init(gw_intern_table *table, uint32_t capacity, uint32_t arena_size);
/* Id of `text` (length bytes); inserts it if new. Never blocks; overflow_id when full. */
uint32_t gw_intern(gw_intern_table *table, const char *text, size_t length);
uint32_t gw_intern_count(const gw_intern_table *table);                  /* ids handed out so far, + 1 */
uint32_t gw_intern_find(const gw_intern_table *table, const char *text); /* 0 when absent */
/* The text of `id` if its entry is complete, else NULL. */
const char *gw_intern_text(const gw_intern_table *table, uint32_t id, uint16_t *length);

/* Categories: (domain, category number) -> name, set by nvtx[Domain]NameCategoryA. */
#define GW_MAX_CATEGORIES 256u
typedef struct gw_category {
  uint32_t domain;
  uint32_t category;
  uint32_t name;    /* message-table id of the name */
  uint32_t state;   /* 0 free, 1 being written, 2 ready */
  uint32_t version; /* bumped on rename so the sender resends */
} gw_category;

/* Names given with nvtxNameOsThreadA / gilwatch_name_thread: tid -> name, newest wins. */
#define GW_MAX_THREAD_NAMES 1024u
typedef struct gw_thread_name {
  uint32_t tid;     /* 0 = free */
  uint32_t version; /* odd while being written */
  char name[128];
} gw_thread_name;

/* ---- per-thread state (threads.c) ---- */

#define GW_STACK_DEPTH       32 /* deeper pushes are counted, not recorded */
#define GW_STACKS_PER_THREAD 16 /* distinct domains one thread may have open */
#define GW_OPEN_REPORT_DEPTH 4  /* the sender reports open ranges this deep */
#define GW_LONG_HOLD_RECORDS 16 /* per thread: long holds kept when the ring is full */

typedef struct gw_stack_entry {
  uint64_t start_ns;
  uint64_t payload;
  uint32_t message;
  uint32_t category;
  uint8_t payload_type;
} gw_stack_entry;

typedef struct gw_stack {
  uint32_t domain;
  uint32_t depth; /* may exceed GW_STACK_DEPTH */
  uint32_t seq;   /* odd while the owner writes an entry: the sender's scan retries */
  gw_stack_entry entries[GW_STACK_DEPTH];
} gw_stack;

typedef struct gw_thread {
  /* Written once at registration. */
  struct gw_thread *next; /* registry list; changed only by the sender (unlink) and at push */
  uint32_t id;
  pid_t tid;
  unsigned long pthread;     /* pthread_self(): how CPython 3.10 identifies its thread states */
  char start_name[16];       /* OS name at registration: a thread may exit before the sender reads /proc */
  gw_thread_name given_name; /* a thread naming itself (gilwatch_name_thread): no table slot, freed with it */
  gw_record *ring;
  uint64_t ring_mask;

  /* Written by the thread itself (the producer: handlers.c, gil_totals.c, sampler.c's
   * gw_note_long_release); read by the sender as each field says. */
  uint64_t head __attribute__((aligned(GW_CACHELINE))); /* next write; release-stored */
  uint64_t tail_seen;                                   /* producer's cached copy of tail */
  uint64_t dropped;                                     /* ring full or depth overflow: relaxed-stored by the owner */
  uint64_t unmatched_pops;
  uint32_t stack_count; /* release-stored after a stack's domain is set */
  int exited;           /* release-stored by the thread's exit destructor */
  /* Long GIL holds that found the ring full: rare, and what users alert on, so they get a
   * small ring of their own rather than being dropped with the burst around them. */
  uint64_t long_head; /* release-stored by the owner */
  gw_record long_holds[GW_LONG_HOLD_RECORDS];
  /* Its exact cumulative GIL counts (gil_totals.c), in the shared region: written by this
   * thread only. NULL when every slot was taken: then it counts into the region's retired sum. */
  gw_shared_slot *slot;
  int gil_waited; /* a GIL wait ended and its hold has not: the hold is contended */
  gw_stack stacks[GW_STACKS_PER_THREAD];
  /* The holder's own schedstat when it released its last long GIL hold (gw_note_long_release):
   * the end of that hold's exact time split. Seqlock: odd while the owner writes it. */
  struct {
    uint32_t seq;
    uint64_t start_ns, at_ns, run_ns, wait_ns;
    int64_t interp;
  } released;

  /* Written by the sender thread only (sender.c, frames.c): its read position in the rings
   * and what the current connection has been told about the thread. */
  struct gw_thread_sender {
    uint64_t tail __attribute__((aligned(GW_CACHELINE))); /* release-stored: the producer reads it */
    uint64_t long_tail;                                   /* release-stored, likewise */
    int info_sent;                                        /* THREAD sent on the current connection */
    uint32_t name_version;                                /* version of the given name now in `name` (0: the OS name) */
    uint64_t name_checked_ns;                             /* when the OS name was last read */
    char name[128];                                       /* last name sent */
    uint64_t reported_start[GW_STACKS_PER_THREAD][GW_OPEN_REPORT_DEPTH]; /* OPEN already sent, per stack */
  } sender;
  /* Written by the sampler only (sampler.c, on the sender thread): what it saw of the
   * thread's open GIL hold. */
  struct gw_thread_look {
    uint32_t released_seen; /* `released.seq` already used */
    /* Its first look at the open hold (the thread's schedstat, taken the first tick it sees
     * the hold, long or not): the start of that hold's time split. */
    uint64_t start_ns, at_ns, run_ns, wait_ns;
    /* The holder's Python frames, read once its open hold passed half the long-hold
     * threshold: a hold that ends before its first sample still says where it was. */
    uint64_t frames_start_ns;
    int frames_question; /* its frame question (frame_reader.c) not yet answered, or -1 */
    uint16_t frame_count, stack_depth;
    gw_python_frame frames[GW_CAUSE_FRAMES];
  } look;
} gw_thread;

/* The calling thread's state, registering it on its first event. NULL when the
 * thread has already run its exit destructor or registration failed (counted). */
gw_thread *gw_thread_slow(void);
extern __thread gw_thread *gw_tls_thread __attribute__((tls_model("initial-exec")));

static inline gw_thread *gw_current_thread(void) {
  gw_thread *thread = gw_tls_thread;
  return GW_LIKELY(thread != NULL) ? thread : gw_thread_slow();
}

/* What a new connection must be told again about the thread (its THREAD frame, its open
 * ranges): the sender calls it for every thread when it reconnects, and the fork child for
 * the thread that forked. Sender thread (or the fork child before it runs) only. */
void gw_thread_forget_connection(gw_thread *thread);

/* Another thread's view of `stack`, read under its seqlock: its depth, and up to `max`
 * entries into `out`, the outermost first, or only the innermost one (`innermost`, max 1).
 * Returns the entries copied, or -1 while the owner is pushing or popping (read again). */
static inline int gw_stack_read(const gw_stack *stack, int innermost, gw_stack_entry *out, uint32_t max,
                                uint32_t *depth) {
  uint32_t seq = gw_load_acquire(&stack->seq);
  if (seq & 1) return -1;
  uint32_t d = gw_load_acquire(&stack->depth);
  uint32_t kept = d < GW_STACK_DEPTH ? d : GW_STACK_DEPTH; /* deeper pushes have no entry */
  uint32_t first = innermost && kept ? kept - 1 : 0;
  uint32_t n = kept - first < max ? kept - first : max;
  for (uint32_t i = 0; i < n; i++) {
    const gw_stack_entry *entry = &stack->entries[first + i];
    out[i].start_ns = gw_load_relaxed(&entry->start_ns);
    out[i].message = gw_load_relaxed(&entry->message);
    out[i].category = gw_load_relaxed(&entry->category);
    out[i].payload = gw_load_relaxed(&entry->payload);
    out[i].payload_type = gw_load_relaxed(&entry->payload_type);
  }
  __atomic_thread_fence(__ATOMIC_ACQUIRE);
  if (gw_load_relaxed(&stack->seq) != seq) return -1;
  *depth = d;
  return (int)n;
}

/* Stack of `domain` on `thread`, created on first use; NULL when all are taken. */
static inline gw_stack *gw_stack_for(gw_thread *thread, uint32_t domain) {
  uint32_t n = thread->stack_count;
  for (uint32_t i = 0; i < n; i++)
    if (thread->stacks[i].domain == domain) return &thread->stacks[i];
  if (GW_UNLIKELY(n == GW_STACKS_PER_THREAD)) return NULL;
  thread->stacks[n].domain = domain;
  gw_store_release(&thread->stack_count, n + 1);
  return &thread->stacks[n];
}

/* ---- process-wide state (init.c) ---- */

struct gw_runtime {
  gw_config config;
  gw_intern_table domains;
  gw_intern_table messages;
  uint8_t domain_enabled[GW_MAX_DOMAINS]; /* GILWATCH_DOMAINS, decided at nvtxDomainCreateA */
  gw_category categories[GW_MAX_CATEGORIES];
  gw_thread_name thread_names[GW_MAX_THREAD_NAMES]; /* names given by other threads, before registration */
  uint32_t thread_names_used;
  gw_thread *threads; /* registry head */
  uint32_t next_thread_id;
  uint64_t next_range_id;
  uint64_t lost_threads;                               /* events of threads that could not register */
  pthread_key_t exit_key;                              /* its destructor marks a thread exited */
  uint32_t gil_domain;                                 /* "GIL NVTX Domain" once created, else 0 */
  uint32_t gil_holding, gil_waiting, gil_drop_request; /* their message ids, interned at start */
  /* The exact GIL accounting: per-thread slots, the retired sum and per-GIL contention
   * (shared_totals.c; its layout is the protocol header's). Never NULL once started. */
  gw_shared_header *region;
  uint32_t slots_high; /* slots [0, slots_high) have been claimed at least once */
  int region_file;     /* the region is a file a server can read: its name is region_path */
  int region_fd;       /* the unnamed region file's descriptor in the program's table until the
                          sender thread takes it (gw_region_handed_over), else -1 */
  int region_named;    /* the file has its name (gw_region_publish) */
  char region_path[160];
  int sender_wanted; /* the sender was stopped for a fork: the next event restarts it */
  uint64_t instance;
  pid_t pid;
  int started;
};

typedef struct gw_runtime gw_runtime;
extern gw_runtime gw_rt;

void gw_sender_resume(void);

/* Claims the next ring slot; NULL (and a counted drop) when the sender is behind. */
static inline gw_record *gw_ring_claim(gw_thread *thread) {
  if (GW_UNLIKELY(gw_load_relaxed(&gw_rt.sender_wanted))) gw_sender_resume();
  uint64_t head = thread->head;
  if (GW_UNLIKELY(head - thread->tail_seen > thread->ring_mask)) {
    thread->tail_seen = gw_load_acquire(&thread->sender.tail);
    if (head - thread->tail_seen > thread->ring_mask) {
      gw_store_relaxed(&thread->dropped, thread->dropped + 1);
      return NULL;
    }
  }
  return &thread->ring[head & thread->ring_mask];
}

/* A slot in the long-hold ring (the main one was full); NULL when it is full too. The drop
 * counted by gw_ring_claim is taken back: this record is kept. */
static inline gw_record *gw_long_hold_claim(gw_thread *thread) {
  if (thread->long_head - gw_load_acquire(&thread->sender.long_tail) >= GW_LONG_HOLD_RECORDS) return NULL;
  gw_store_relaxed(&thread->dropped, thread->dropped - 1);
  return &thread->long_holds[thread->long_head % GW_LONG_HOLD_RECORDS];
}

static inline void gw_ring_publish(gw_thread *thread) { gw_store_release(&thread->head, thread->head + 1); }

/* Closes every range the thread still has pushed (thread exit). */
void gw_thread_close_open_ranges(gw_thread *thread, uint64_t now_ns);
/* The exit_key destructor. */
void gw_thread_on_exit(void *thread);

/* ---- the shared totals region (shared_totals.c) ---- */

/* Creates this process's region (at start, and in a fork child): a file beside the Unix
 * socket when its directory is safe, else private memory. Returns 0 only without memory. */
int gw_region_create(void);
/* Gives the region's file its name (a server finds it by it) and closes `fd`, a descriptor of
 * the calling thread's table (the sender's own, once it connected). */
void gw_region_publish(int fd);
/* The sender thread started: `taken` when it took the region's descriptor into a table of
 * its own (the program's copy is closed), else the file is named now. */
void gw_region_handed_over(int taken);
/* A slot for a new thread (thread id, OS tid, name); NULL when all are taken by live threads. */
gw_shared_slot *gw_region_claim(uint32_t thread, pid_t tid, const char *name);
/* The sender's: moves exited threads' slots into the retired sum when free slots run low,
 * calling `folded(slot index, thread id)` for each. Returns how many it folded. */
uint32_t gw_region_fold_exited(void (*folded)(uint32_t index, uint32_t thread));
/* The retired sum, consistently; 0 while a fold or a slot-less count is under way. */
int gw_region_retired(gw_gil_totals *out, uint32_t *count);
/* At exit: the totals are final. Removes the file if no server ever connected. */
void gw_region_exiting(int ever_connected);

/* ---- exact GIL totals (gil_totals.c) ---- */

/* Counts one ended GIL range or drop-request mark on the calling thread. Owner-only plain
 * stores under the thread's seqlock: no atomic read-modify-write, no shared cache line. */
void gw_gil_count_range(gw_thread *thread, uint32_t message, uint8_t payload_type, uint64_t payload, uint64_t start_ns,
                        uint64_t end_ns);
void gw_gil_count_mark(gw_thread *thread, uint8_t payload_type, uint64_t payload);
/* A GIL wait begins or ends on the calling thread (the ranges' payload tells which GIL). */
void gw_gil_wait_begins(uint8_t payload_type, uint64_t payload, uint64_t start_ns);
void gw_gil_wait_ends(uint8_t payload_type, uint64_t payload, uint64_t end_ns);
/* Per GIL: waiters now and contended time up to `now_ns`. Returns how many were written. */
uint32_t gw_gil_contention_read(gw_gil_contention *out, uint32_t max, uint64_t now_ns);
/* The sender's consistent copy of a slot's totals; 0 while its owner is mid-update. */
int gw_gil_snapshot(const gw_shared_slot *slot, gw_gil_totals *out, uint32_t *count, uint32_t *seq);
/* Adds `count` totals into `sum` (slots matched by interpreter). */
void gw_gil_fold(gw_gil_totals *sum, uint32_t *sum_count, const gw_gil_totals *totals, uint32_t count);

/* ---- sender (sender.c) ---- */

int gw_sender_start(void); /* 0 on failure */
/* fork: the sender thread is stopped before fork() and restarted lazily by the next event
 * in each process, so that at fork time, and right after it, the process has no thread of
 * ours (CPython 3.12+ warns when os.fork() runs in a multi-threaded process). */
void gw_sender_before_fork(void);
void gw_sender_after_fork_parent(void);
void gw_sender_after_fork_child(void);
void gw_sender_flush_at_exit(void); /* waits at most GW_EXIT_FLUSH_MS */

/* ---- long-hold sampler (sampler.c), run by the sender ---- */

void gw_sampler_observe(gw_thread *thread, uint64_t now_ns); /* each tick, each thread */
/* Before the thread is freed: the final causes of its holds still being sampled (a thread
 * that exits right after a long hold). Returns how many were written to `out`. */
size_t gw_sampler_forget(gw_thread *thread, gw_hold_cause *out, size_t max);
void gw_sampler_after_fork_child(void); /* the parent's holds are not ours */
/* The calling thread released a GIL hold of at least the threshold: it reads its own CPU
 * clock (one clock_gettime, no file, only for holds already that long). */
void gw_note_long_release(gw_thread *thread, uint64_t start_ns, int64_t interp);
/* Causes to send (holds that ended, every 100 ms those still going on, and at exit (`final`)
 * every one, final); *active is 1 while a hold is being sampled, and the sender then ticks
 * every GW_SAMPLE_MS. */
size_t gw_sampler_end_tick(uint64_t now_ns, gw_hold_cause *out, size_t max, int *active, int final);

#define GW_TICK_MS              10
#define GW_IDLE_TICK_MS         100 /* after GW_IDLE_AFTER_TICKS ticks with nothing to send */
#define GW_IDLE_AFTER_TICKS     10
#define GW_IDLE_STATUS_NS       1000000000ull /* an idle process's heartbeat */
#define GW_BUSY_TICK_MS         1
#define GW_SAMPLE_MS            2
#define GW_EXIT_FLUSH_MS        200
#define GW_EXIT_STALL_MS        50 /* at exit, with a totals file: a server that takes nothing this long is not waited for */
#define GW_OPEN_REPORT_AFTER_NS (GW_TICK_MS * 1000000ull) /* open ranges older than this are reported */
#define GW_NAME_REFRESH_NS      5000000000ull             /* OS names rarely change; NVTX-given names arrive at once */

/* Ranges this long are never dropped for a full ring or a slow server (they are few): a
 * long GIL hold is what users alert on, and a range the sender may have reported OPEN must
 * end on the server, or it would look stuck there. */
static inline int gw_keep_always(uint64_t start_ns, uint64_t end_ns) {
  uint64_t limit =
      gw_rt.config.long_hold_ns < GW_OPEN_REPORT_AFTER_NS ? gw_rt.config.long_hold_ns : GW_OPEN_REPORT_AFTER_NS;
  return end_ns - start_ns >= limit;
}

#endif
