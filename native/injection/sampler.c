/*
 * Why is this GIL hold long? While a thread has held the GIL for more than the threshold
 * (GILWATCH_LONG_HOLD_MS, default 20 ms), the sender thread samples it every
 * GW_SAMPLE_MS from /proc/self/task/<tid>/:
 *   schedstat  time on CPU and time runnable but waiting for one (cumulative, ns);
 *   stat       state (R, S, D...) and major page faults;
 *   syscall    the system call it is blocked in, when sleeping;
 *   wchan      the kernel function it sleeps in (its wait site).
 * Time neither running nor waiting to run is blocked, attributed to the system call and
 * wait site seen (or to "no system call": a page fault). The split covers the whole hold:
 * the sender reads the holder's schedstat once at the first tick it sees any hold open, and
 * the holder reads its own when it releases a hold of at least the threshold (see split()),
 * so a hold that ends before the first sample still gets a final cause. At the first sample
 * it also asks for the holder's Python frames (read on a thread of their own,
 * frame_reader.c, since that read can wait for the memory map's lock): where in the program
 * the hold is. Every 10 ms it also looks at what the process's other threads are blocked in
 * (a thread waiting for the GIL is known from its open range, without reading /proc). Nothing
 * is sampled while no hold is long: the hot path never pays for this. The /proc readers are
 * thread_proc.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../protocol/gil_names.h"
#include "frame_reader.h"
#include "thread_proc.h"
#include "runtime.h"

#define MAX_SAMPLED        8
#define OTHERS_EVERY_NS    10000000ull
#define OTHERS_MAX_THREADS 16
#define INTERIM_EVERY_NS   100000000ull
#define SYSCALL_SLOTS      16
#define FRAME_TRIES        3             /* samples that may look for the holder's Python frames */
#define GW_BRACKET_NS      1000000000ull /* a reading this recent before a hold may bracket it */

typedef struct sampled_hold {
  gw_thread *thread; /* NULL: free slot */
  uint64_t start_ns;
  int64_t interp;
  int seen;   /* still held at this tick */
  int ended;  /* the holder's release reading is in: the split is final */
  int missed; /* ticks since the hold was last seen, its release reading not yet in */
  uint64_t last_emit_ns;
  /* The split's first reading (the sender's first look at the hold, else the first sample;
   * none: base_at_ns 0), and the previous sample */
  uint64_t base_at_ns, base_run_ns, base_wait_ns;
  uint64_t at_ns, run_ns, wait_ns;
  unsigned long majflt;
  unsigned long first_majflt;
  char state;                    /* the holder's state at the last sample (R, S, D...), 0 before one */
  uint64_t estimated_blocked_ns; /* sum of per-interval estimates, for the syscall shares */
  int frame_tries;
  int bracketed;         /* split from a reading taken before the hold (the sender never saw it open) */
  int question;          /* the frame read asked for this hold and not yet answered, or -1 */
  int64_t frames_interp; /* whose thread state holds the frames (frames_interp()) */
  gw_hold_cause cause;
  struct {
    int32_t syscall;
    uint32_t wait_site;
    uint64_t ns;
  } blocked[SYSCALL_SLOTS];
  struct {
    int32_t syscall;
    uint32_t samples;
  } others[SYSCALL_SLOTS];
} sampled_hold;

static sampled_hold holds[MAX_SAMPLED];
static uint64_t others_sampled_ns;
static uint32_t gil_domain, holding_message, waiting_message; /* ids, once the process has them */

/* The message of the thread's open outermost GIL range, or 0. */
static uint32_t gil_state(gw_thread *thread, uint64_t *start, uint64_t *payload, uint8_t *payload_type) {
  *start = *payload = 0;
  *payload_type = GW_PAYLOAD_NONE;
  uint32_t stacks = gw_load_acquire(&thread->stack_count);
  for (uint32_t i = 0; i < stacks; i++) {
    gw_stack *stack = &thread->stacks[i];
    if (stack->domain != gil_domain) continue;
    gw_stack_entry outermost;
    uint32_t depth;
    if (gw_stack_read(stack, 0, &outermost, 1, &depth) != 1) return 0; /* none, or changing */
    *start = outermost.start_ns;
    *payload = outermost.payload;
    *payload_type = outermost.payload_type;
    return outermost.message;
  }
  return 0;
}

/* Which hold a frame question is for. */
static inline uint64_t question_key(const gw_thread *thread, uint64_t start) {
  return start ^ ((uint64_t)thread->tid << 40);
}

static void release(sampled_hold *h) {
  if (h->question >= 0) gw_frames_forget(h->question, question_key(h->thread, h->start_ns));
  h->question = -1;
  h->thread = NULL;
}

static void add_blocked(sampled_hold *h, int32_t syscall, uint32_t wait_site, uint64_t ns) {
  for (int i = 0; i < SYSCALL_SLOTS; i++) {
    if (h->blocked[i].ns && (h->blocked[i].syscall != syscall || h->blocked[i].wait_site != wait_site)) continue;
    h->blocked[i].syscall = syscall;
    h->blocked[i].wait_site = wait_site;
    h->blocked[i].ns += ns;
    return;
  }
}

/* The split of the whole hold. From the first reading to (at, run, wait) it is measured: the
 * parts add up to that interval exactly, up to the kernel's lag in updating a running task's
 * counters (one scheduler tick). The hold before the first reading (the sender looks once a
 * tick, so at most GW_TICK_MS plus its lateness) has no reading of its own: it is split in the
 * measured proportions, an estimate. Reading the holder's schedstat when the hold starts would
 * put a system call on every GIL acquisition. */
static void split(sampled_hold *h, uint64_t at, uint64_t run_ns, uint64_t wait_ns) {
  if (!h->base_at_ns || at < h->base_at_ns || run_ns < h->base_run_ns || wait_ns < h->base_wait_ns) {
    h->cause.sampled_from_ns = h->cause.sampled_to_ns = at; /* nothing read before: no split */
    h->cause.on_cpu_ns = h->cause.runqueue_ns = h->cause.blocked_ns = 0;
    return;
  }
  h->cause.sampled_from_ns = h->base_at_ns;
  h->cause.sampled_to_ns = at;
  h->cause.on_cpu_ns = run_ns - h->base_run_ns;
  h->cause.runqueue_ns = wait_ns - h->base_wait_ns;
  uint64_t wall = at - h->base_at_ns;
  uint64_t accounted = h->cause.on_cpu_ns + h->cause.runqueue_ns;
  if (accounted > wall) {
    /* The counters lag: a wait for a CPU is added when it ends, a running thread's time at
     * the next scheduler tick, so a delta can hold a little from before the first reading. */
    h->cause.on_cpu_ns = (uint64_t)((double)h->cause.on_cpu_ns * (double)wall / (double)accounted);
    h->cause.runqueue_ns = wall - h->cause.on_cpu_ns;
    accounted = wall;
  }
  h->cause.blocked_ns = wall - accounted;
  /* Not read at the hold's start: the measured interval began after it (the sender's first
   * look, a tick late), or, bracketed, before it (a reading taken before the hold, when the
   * sender never saw it open): its proportions, scaled to the hold. */
  if (wall > 0 && h->base_at_ns != h->start_ns && at > h->start_ns) {
    double scale = (double)(at - h->start_ns) / (double)wall;
    h->cause.on_cpu_ns = (uint64_t)((double)h->cause.on_cpu_ns * scale);
    h->cause.runqueue_ns = (uint64_t)((double)h->cause.runqueue_ns * scale);
    h->cause.blocked_ns = (uint64_t)((double)h->cause.blocked_ns * scale);
  }
}

void gw_note_long_release(gw_thread *thread, uint64_t start_ns, int64_t interp) {
  int saved_errno = errno; /* the caller may be between a system call and its errno check */
  /* The holder's own CPU clock (the same counter as schedstat's first field), read without a
   * file: this runs on a program thread, and a descriptor opened here, even for a moment,
   * could be seen by the program's other threads. Its run-queue counter is read by the
   * sender when it takes this reading (queued_until_release). */
  uint64_t at = gw_now_ns(), run_ns, wait_ns = UINT64_MAX;
  struct timespec cpu;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu) == 0) {
    run_ns = (uint64_t)cpu.tv_sec * 1000000000u + (uint64_t)cpu.tv_nsec;
    uint32_t seq = thread->released.seq;
    gw_store_relaxed(&thread->released.seq, seq + 1);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    gw_store_relaxed(&thread->released.start_ns, start_ns);
    gw_store_relaxed(&thread->released.at_ns, at);
    gw_store_relaxed(&thread->released.run_ns, run_ns);
    gw_store_relaxed(&thread->released.wait_ns, wait_ns);
    gw_store_relaxed(&thread->released.interp, interp);
    gw_store_release(&thread->released.seq, seq + 2);
  }
  errno = saved_errno;
}

static sampled_hold *slot_for(gw_thread *thread, uint64_t start, uint64_t now) {
  for (int k = 0; k < MAX_SAMPLED; k++)
    if (holds[k].thread == thread && holds[k].start_ns == start) return &holds[k];
  for (int k = 0; k < MAX_SAMPLED; k++) {
    if (holds[k].thread) continue;
    sampled_hold *h = &holds[k];
    memset(h, 0, sizeof *h);
    h->thread = thread;
    h->start_ns = start;
    h->last_emit_ns = now;
    h->question = -1;
    if (thread->look.start_ns == start) { /* looked at before it was long: the split covers that too */
      h->base_at_ns = thread->look.at_ns;
      h->base_run_ns = thread->look.run_ns;
      h->base_wait_ns = thread->look.wait_ns;
    } else if (thread->look.at_ns && thread->look.at_ns < start && start - thread->look.at_ns < GW_BRACKET_NS) {
      /* Never seen open (the sender did not run during it): the last reading of the thread
       * before it, at an earlier hold, brackets it with the release reading. */
      h->base_at_ns = thread->look.at_ns;
      h->base_run_ns = thread->look.run_ns;
      h->base_wait_ns = thread->look.wait_ns;
      h->bracketed = 1;
    }
    if (thread->look.frames_start_ns == start && thread->look.frame_count) {
      memcpy(h->cause.frames, thread->look.frames, sizeof h->cause.frames);
      h->cause.frame_count = thread->look.frame_count;
      h->cause.stack_depth = thread->look.stack_depth;
    } else if (thread->look.frames_start_ns == start && thread->look.frames_question >= 0) {
      h->question = thread->look.frames_question; /* its answer is this hold's now */
      h->frame_tries = 1;
      thread->look.frames_question = -1;
    }
    return h;
  }
  return NULL; /* more than MAX_SAMPLED long holds at once: the oldest are enough */
}

/* The holder's run-queue counter at its release, which it could not read itself (no file on
 * a program thread): read now, a tick later at most. When the last sample found the holder
 * runnable (R), the split's time since its first reading that is neither on CPU nor already
 * counted as queued goes to the run queue as far as the counter grew; otherwise, or with
 * no sample, it stays blocked. (The counter grows when a wait for a CPU ends, so a wait
 * under way at the last sample only shows now; but it also grows with queueing after the
 * release, so it is only trusted for a holder that was competing for a CPU.) Without this a
 * holder starved of CPU by a loaded machine would show its last queueing as blocked. */
static uint64_t queued_until_release(const sampled_hold *h, uint64_t at, uint64_t run_ns) {
  uint64_t last_wait = h->cause.samples > 0 ? h->wait_ns : h->base_wait_ns;
  uint64_t now_run, now_wait;
  if (h->state != 'R' || !h->base_at_ns || at < h->base_at_ns || run_ns < h->base_run_ns ||
      last_wait < h->base_wait_ns || !gw_proc_schedstat(h->thread->tid, &now_run, &now_wait) || now_wait < last_wait)
    return last_wait; /* no sample (state 0), or not runnable at the last one */
  uint64_t accounted = (run_ns - h->base_run_ns) + (last_wait - h->base_wait_ns), wall = at - h->base_at_ns;
  uint64_t unaccounted = wall > accounted ? wall - accounted : 0, queued = now_wait - last_wait;
  return last_wait + (queued < unaccounted ? queued : unaccounted);
}

/* The holder's reading at its last long release, if new: ends that hold's split (a hold the
 * sampler never saw still gets a final cause, from the sender's first look if it had one). */
static void take_release(gw_thread *thread, uint64_t now) {
  uint32_t seq = gw_load_acquire(&thread->released.seq);
  if (seq & 1 || seq == thread->look.released_seen) return;
  uint64_t start = gw_load_relaxed(&thread->released.start_ns), at = gw_load_relaxed(&thread->released.at_ns);
  uint64_t run_ns = gw_load_relaxed(&thread->released.run_ns), wait_ns = gw_load_relaxed(&thread->released.wait_ns);
  int64_t interp = gw_load_relaxed(&thread->released.interp);
  __atomic_thread_fence(__ATOMIC_ACQUIRE);
  if (gw_load_relaxed(&thread->released.seq) != seq) return; /* being rewritten: next tick */
  thread->look.released_seen = seq;
  sampled_hold *h = slot_for(thread, start, now);
  if (!h) return;
  h->ended = 1;
  h->interp = interp;
  if (wait_ns == UINT64_MAX) wait_ns = queued_until_release(h, at, run_ns);
  split(h, at, run_ns, wait_ns);
}

/* The holder's Python frames, from the frame reader (frame_reader.c): the answer to the
 * question asked at an earlier tick, or a new question. Never waits: a reader stuck on the
 * memory map leaves this hold without a location, and says why (fill). */
static void ask_frames(sampled_hold *h, uint64_t now) {
  uint64_t key = question_key(h->thread, h->start_ns);
  if (h->question >= 0) {
    gw_python_frame frames[GW_CAUSE_FRAMES];
    uint16_t count = 0, depth = 0;
    int answer = gw_frames_answer(h->question, key, frames, &count, &depth);
    if (answer == GW_FRAMES_PENDING) return;
    h->question = -1;
    if (answer == GW_FRAMES_READ && count > 0) {
      memcpy(h->cause.frames, frames, sizeof frames);
      h->cause.frame_count = count;
      h->cause.stack_depth = depth;
      return;
    }
  }
  if (h->cause.frame_count == 0 && h->frame_tries < FRAME_TRIES) {
    h->frame_tries++;
    h->question = gw_frames_ask(h->thread->tid, h->thread->pthread, h->frames_interp, key, now);
  }
}

static void sample(sampled_hold *h, uint64_t now) {
  uint64_t run_ns, wait_ns;
  unsigned long majflt = h->majflt;
  char state = '?';
  pid_t tid = h->thread->tid;
  if (!gw_proc_schedstat(tid, &run_ns, &wait_ns)) return;
  gw_proc_stat(tid, &state, &majflt);
  if (h->cause.samples == 0) {
    h->first_majflt = majflt;
    if (!h->base_at_ns) {
      h->base_at_ns = now;
      h->base_run_ns = run_ns;
      h->base_wait_ns = wait_ns;
    }
  }
  if (h->cause.samples > 0 && (state == 'S' || state == 'D')) {
    /* The kernel updates a running task's counters only at ticks, so one interval's split
     * is rough; the totals below use the first and last readings. This estimate only says
     * which system call the blocked time went to. */
    uint64_t interval = now > h->at_ns ? now - h->at_ns : 0;
    uint64_t accounted = (run_ns - h->run_ns) + (wait_ns - h->wait_ns);
    uint64_t blocked = interval > accounted ? interval - accounted : 0;
    if (blocked) {
      int32_t syscall = gw_proc_syscall(tid);
      uint32_t wait_site = syscall == GW_SYSCALL_RUNNING ? 0 : gw_proc_wait_site(tid);
      add_blocked(h, syscall == GW_SYSCALL_RUNNING ? GW_SYSCALL_UNKNOWN : syscall, wait_site, blocked);
      h->estimated_blocked_ns += blocked;
    }
  }
  ask_frames(h, now);
  h->cause.samples++;
  h->cause.major_faults = (uint32_t)(majflt - h->first_majflt);
  split(h, now, run_ns, wait_ns);
  h->at_ns = now;
  h->run_ns = run_ns;
  h->wait_ns = wait_ns;
  h->majflt = majflt;
  h->state = state;
}

/* What the other threads are blocked in, counted into every hold being sampled. */
static void sample_others(uint64_t now) {
  if (now - others_sampled_ns < OTHERS_EVERY_NS) return;
  others_sampled_ns = now;
  int looked = 0;
  for (gw_thread *t = gw_load_acquire(&gw_rt.threads); t && looked < OTHERS_MAX_THREADS; t = t->next) {
    int holder = 0;
    for (int i = 0; i < MAX_SAMPLED; i++) holder |= holds[i].thread == t;
    if (holder || gw_load_acquire(&t->exited)) continue;
    looked++;
    /* A GIL waiter is known from its open range, without reading /proc. */
    uint64_t start, payload;
    uint8_t payload_type;
    int32_t syscall = GW_SYSCALL_GIL_WAIT;
    if (!waiting_message || gil_state(t, &start, &payload, &payload_type) != waiting_message) {
      syscall = gw_proc_syscall(t->tid);
      if (syscall == GW_SYSCALL_RUNNING || syscall == GW_SYSCALL_UNKNOWN) continue;
      if (syscall == GW_SYSCALL_NONE) { /* outside a system call: a page fault (D), or just preempted (R) */
        char state;
        unsigned long majflt;
        if (!gw_proc_stat(t->tid, &state, &majflt) || state != 'D') continue;
      }
    }
    for (int i = 0; i < MAX_SAMPLED; i++) {
      sampled_hold *h = &holds[i];
      if (!h->thread) continue;
      for (int k = 0; k < SYSCALL_SLOTS; k++) {
        if (h->others[k].samples && h->others[k].syscall != syscall) continue;
        h->others[k].syscall = syscall;
        h->others[k].samples++;
        break;
      }
    }
  }
  for (int i = 0; i < MAX_SAMPLED; i++)
    if (holds[i].thread) holds[i].cause.other_samples++;
}

/* The interpreter whose GIL a hold is on, for the frame reader; -1 without a payload (the
 * patch on 3.10/3.11, where sub-interpreters share one GIL): then the reader cannot tell. */
static int64_t frames_interp(uint8_t payload_type, uint64_t payload) {
  return payload_type == GW_PAYLOAD_NONE ? -1 : gw_interp_of(payload_type, payload);
}

/* The answer to the thread's early look at its frames, when it has come. */
static void take_look(gw_thread *thread) {
  if (thread->look.frames_question < 0) return;
  uint16_t count = 0, depth = 0;
  int answer = gw_frames_answer(thread->look.frames_question, question_key(thread, thread->look.frames_start_ns),
                                thread->look.frames, &count, &depth);
  if (answer == GW_FRAMES_PENDING) return;
  thread->look.frames_question = -1;
  thread->look.frame_count = answer == GW_FRAMES_READ ? count : 0;
  thread->look.stack_depth = depth;
}

void gw_sampler_observe(gw_thread *thread, uint64_t now) {
  if (!gil_domain) gil_domain = gw_intern_find(&gw_rt.domains, GW_GIL_DOMAIN);
  if (!holding_message) holding_message = gw_intern_find(&gw_rt.messages, GW_GIL_HOLDING);
  if (!waiting_message) waiting_message = gw_intern_find(&gw_rt.messages, GW_GIL_WAITING);
  if (!gil_domain || !holding_message) return;
  take_look(thread);
  take_release(thread, now);
  uint64_t start, payload;
  uint8_t payload_type;
  if (gil_state(thread, &start, &payload, &payload_type) != holding_message) return;
  if (now < start) return;
  if (now - start < gw_rt.config.long_hold_ns) {
    /* Not long (yet): one schedstat read per hold the sender sees open, so that a hold
     * that becomes long is split from here, not from when it passed the threshold. */
    if (thread->look.start_ns != start && gw_proc_schedstat(thread->tid, &thread->look.run_ns, &thread->look.wait_ns)) {
      thread->look.start_ns = start;
      thread->look.at_ns = now;
    }
    /* Past half the threshold (rare: the switch interval is 5 ms): where it is, once, in
     * case it ends long but before the first sample (the sender can be a tick late). */
    if (now - start >= gw_rt.config.long_hold_ns / 2 && thread->look.frames_start_ns != start) {
      if (thread->look.frames_question >= 0)
        gw_frames_forget(thread->look.frames_question, question_key(thread, thread->look.frames_start_ns));
      thread->look.frames_start_ns = start;
      thread->look.frame_count = 0;
      thread->look.frames_question = gw_frames_ask(thread->tid, thread->pthread, frames_interp(payload_type, payload),
                                                   question_key(thread, start), now);
    }
    return;
  }
  sampled_hold *h = slot_for(thread, start, now);
  if (!h || h->ended) return;
  h->interp = gw_interp_of(payload_type, payload);
  h->frames_interp = frames_interp(payload_type, payload);
  h->seen = 1;
  sample(h, now);
}

/* Indices of the `k` largest non-zero weights, largest first; -1 past the last. (Each slot
 * holds a different system call, so a slot is picked at most once.) */
static void largest(const uint64_t *weights, int n, int *order, int k) {
  for (int r = 0; r < k; r++) {
    order[r] = -1;
    for (int i = 0; i < n; i++) {
      int taken = 0;
      for (int j = 0; j < r; j++) taken |= order[j] == i;
      if (weights[i] && !taken && (order[r] < 0 || weights[i] > weights[order[r]])) order[r] = i;
    }
  }
}

/* Why a hold has no location: its frame question was never answered. If the reader is in
 * process_vm_readv or waits uninterruptibly, it is the memory map's lock it waits for. */
static uint32_t frames_missing(const sampled_hold *h) {
  if (h->cause.frame_count) return 0;
  if (h->question < 0) return h->frame_tries == 0 ? GW_CAUSE_FRAMES_UNSEEN : 0;
  pid_t reader = gw_frames_reader_tid();
  if (!reader) return GW_CAUSE_FRAMES_LATE;
  char state = 0;
  unsigned long majflt;
  int32_t syscall = gw_proc_syscall(reader);
  return syscall == 310 /* process_vm_readv */ || (gw_proc_stat(reader, &state, &majflt) && state == 'D')
             ? GW_CAUSE_FRAMES_LOCKED
             : GW_CAUSE_FRAMES_LATE;
}

static void fill(sampled_hold *h, gw_hold_cause *out, int final) {
  *out = h->cause;
  out->thread = h->thread->id;
  out->flags = (final ? GW_CAUSE_FINAL : 0) | (final ? frames_missing(h) : 0) | (h->bracketed ? GW_CAUSE_BRACKETED : 0);
  out->start_ns = h->start_ns;
  out->interp = h->interp;
  uint64_t weights[SYSCALL_SLOTS];
  int order[GW_CAUSE_SYSCALLS > GW_CAUSE_OTHERS ? GW_CAUSE_SYSCALLS : GW_CAUSE_OTHERS];
  for (int i = 0; i < SYSCALL_SLOTS; i++) weights[i] = h->blocked[i].ns;
  largest(weights, SYSCALL_SLOTS, order, GW_CAUSE_SYSCALLS);
  for (int k = 0; k < GW_CAUSE_SYSCALLS; k++) {
    int i = order[k];
    /* shares of the estimates, scaled to the measured total */
    uint64_t ns =
        i < 0 || !h->estimated_blocked_ns
            ? 0
            : (uint64_t)((double)h->blocked[i].ns / (double)h->estimated_blocked_ns * (double)h->cause.blocked_ns);
    out->blocked_in[k] =
        i < 0 ? (gw_cause_syscall){0} : (gw_cause_syscall){h->blocked[i].syscall, h->blocked[i].wait_site, ns};
  }
  for (int i = 0; i < SYSCALL_SLOTS; i++) weights[i] = h->others[i].samples;
  largest(weights, SYSCALL_SLOTS, order, GW_CAUSE_OTHERS);
  for (int k = 0; k < GW_CAUSE_OTHERS; k++) {
    int i = order[k];
    out->others[k] = i < 0 ? (gw_cause_others){0} : (gw_cause_others){h->others[i].syscall, h->others[i].samples};
  }
}

size_t gw_sampler_forget(gw_thread *thread, gw_hold_cause *out, size_t max) {
  size_t n = 0;
  for (int i = 0; i < MAX_SAMPLED; i++) {
    if (holds[i].thread != thread) continue;
    if (n < max && (holds[i].cause.samples || holds[i].ended)) fill(&holds[i], &out[n++], 1);
    release(&holds[i]);
  }
  return n;
}

void gw_sampler_after_fork_child(void) {
  for (int i = 0; i < MAX_SAMPLED; i++)
    if (holds[i].thread) release(&holds[i]); /* the parent's threads, freed in the child */
  gw_thread *self = gw_tls_thread;           /* the one thread the child keeps: its last release was the parent's */
  if (self) {
    self->look.released_seen = self->released.seq;
    self->look.start_ns = 0;
    self->look.frames_start_ns = 0;
    self->look.frames_question = -1;
  }
}

size_t gw_sampler_end_tick(uint64_t now, gw_hold_cause *out, size_t max, int *active, int final) {
  size_t n = 0;
  *active = 0;
  int any = 0;
  for (int i = 0; i < MAX_SAMPLED; i++) any |= holds[i].thread && holds[i].seen;
  if (any) sample_others(now);
  for (int i = 0; i < MAX_SAMPLED && n < max; i++) {
    sampled_hold *h = &holds[i];
    if (!h->thread) continue;
    /* Ended: final with the holder's release reading, or, if that is not in a tick after
     * the hold was last seen (the thread could not read /proc), with the last sample. At the
     * process's exit (`final`) a hold still open ends with it: its split up to this tick's
     * sample is all there will be. */
    if (h->ended || (!h->seen && ++h->missed > 1) || final) {
      fill(h, &out[n++], 1);
      release(h);
      continue;
    }
    if (!h->seen) continue;
    h->missed = 0;
    *active = 1;
    h->seen = 0;
    if (now - h->last_emit_ns >= INTERIM_EVERY_NS) {
      fill(h, &out[n++], 0);
      h->last_emit_ns = now;
    }
  }
  return n;
}
