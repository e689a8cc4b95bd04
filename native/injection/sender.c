/*
 * The sender thread: every GW_TICK_MS it reports long-open ranges, drains every thread's
 * ring, and writes frames to the server without ever blocking a producer. Also its
 * lifecycle: start, stop before fork() and restart after, and the flush at exit. The
 * connection is transport.c's, the frame encoding frames.c's.
 *
 * Memory is bounded by the rings plus one send buffer (GILWATCH_SEND_BUFFER_KB): when the
 * server is absent, slow or gone, drained records are dropped and counted, and the
 * cumulative count reaches the server in the next STATUS frame after (re)connecting.
 *
 * One file of ~550 lines on purpose: the sender's state (S) is private to it, and its
 * lifecycle and its tick must see the same state under the same lock.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "frame_reader.h"
#include "sender.h"

static struct sender {
  pthread_t thread;
  int running;        /* the thread exists (changed under `lifecycle`) */
  int stop_requested; /* before fork: finish the tick and exit */
  int stopped_for_fork;
  pthread_mutex_t lifecycle; /* start, stop and restart of the thread */
  uint32_t wake_word;        /* futex: bumped to wake the sender early (exit flush); no fd needed */
  pid_t tid;                 /* the sender thread's, while it runs */
  uint32_t table_ready;      /* futex: the new thread has its own descriptor table */
  int region_fd;             /* the unnamed totals region, in this thread's table, until named */
  unsigned idle_ticks;       /* ticks in a row with nothing to send and no GIL range open */
  int status_sent;           /* a STATUS went out on this connection */
  uint64_t status_sent_ns;

  gw_buffer definitions; /* this tick: strings and threads, sent before records */
  gw_buffer records;     /* this tick: records, thread exits, status */

  /* What the current connection has of the region (shared_totals.c): per slot the seq and
   * thread of the totals last queued, whether its THREAD went out, and the retired sum's seq. */
  uint32_t slot_seq_sent[GW_SHARED_SLOTS];
  uint32_t slot_thread_sent[GW_SHARED_SLOTS];
  uint8_t slot_info_sent[GW_SHARED_SLOTS];
  uint32_t retired_seq_sent;
  int retired_sent;

  uint64_t dropped; /* lost by the sender itself, and by threads already reaped */
  uint64_t unmatched_reaped;

  int busy;                /* a ring was over a quarter full at the last drain */
  int sampling;            /* a long GIL hold is being sampled */
  uint64_t exit_requested; /* atomically incremented by the exit flush */
  uint64_t exit_done;
  uint32_t exit_word; /* futex: bumped when an exit flush is done; the exiting thread sleeps on it */
} S = {.lifecycle = PTHREAD_MUTEX_INITIALIZER, .region_fd = -1};

int gw_sender_stopping(void) { return gw_load_acquire(&S.stop_requested); }

/* Everything the server knew is gone with the old connection: resend from scratch. */
static void reset_connection_state(void) {
  gw_frames_forget_strings_sent();
  S.retired_sent = 0;
  S.status_sent = 0;
  S.idle_ticks = 0;
  /* Every slot is restated on the new connection: live and exited threads alike. */
  memset(S.slot_thread_sent, 0, sizeof S.slot_thread_sent);
  memset(S.slot_info_sent, 0, sizeof S.slot_info_sent);
  for (gw_thread *thread = gw_load_acquire(&gw_rt.threads); thread; thread = thread->next)
    gw_thread_forget_connection(thread);
}

/* ---- draining the rings ---- */

/* Adds open ranges older than GW_OPEN_REPORT_AFTER_NS (all of them when `final`), once each. */
static size_t collect_open(gw_thread *thread, gw_record *out, size_t max, uint64_t now, int final) {
  size_t n = 0;
  uint32_t stacks = gw_load_acquire(&thread->stack_count);
  for (uint32_t i = 0; i < stacks; i++) {
    gw_stack *stack = &thread->stacks[i];
    uint64_t *reported = thread->sender.reported_start[i];
    gw_stack_entry entries[GW_OPEN_REPORT_DEPTH];
    uint32_t depth;
    int copied = gw_stack_read(stack, 0, entries, GW_OPEN_REPORT_DEPTH, &depth);
    if (copied < 0) continue; /* being pushed or popped right now: next tick */
    for (uint32_t level = 0; level < (uint32_t)copied && n < max; level++) {
      const gw_stack_entry *entry = &entries[level];
      if (entry->start_ns == reported[level]) continue;
      /* `now` was read when the tick began: a range pushed since (the sender preempted
       * meanwhile) starts after it, and must not pass as old by unsigned wrap-around. */
      if (!final && (entry->start_ns > now || now - entry->start_ns < GW_OPEN_REPORT_AFTER_NS)) continue;
      reported[level] = entry->start_ns;
      out[n++] = (gw_record){.kind = GW_RECORD_OPEN,
                             .payload_type = entry->payload_type,
                             .depth = (uint8_t)level,
                             .message = entry->message,
                             .domain = stack->domain,
                             .aux = entry->category,
                             .start_ns = entry->start_ns,
                             .payload = entry->payload};
    }
  }
  return n;
}

/* Long ranges set aside while the ring was full (gw_keep_always): always sent, after the
 * ring's records of the same tick; dropped and counted only while disconnected. */
static uint64_t drain_long_holds(gw_thread *thread, int connected) {
  uint64_t head = gw_load_acquire(&thread->long_head);
  uint64_t count = head - thread->sender.long_tail;
  if (count == 0) return 0;
  if (connected) {
    gw_record records[GW_LONG_HOLD_RECORDS];
    for (uint64_t i = 0; i < count; i++)
      records[i] = thread->long_holds[(thread->sender.long_tail + i) % GW_LONG_HOLD_RECORDS];
    if (!gw_frame_records(&S.records, thread->id, records, (uint32_t)count)) connected = 0;
  }
  if (!connected) S.dropped += count;
  gw_store_release(&thread->sender.long_tail, head);
  return connected ? count : 0;
}

/* Moves the thread's open-range reports and finished records into S.records, within
 * `budget` bytes; what does not fit is dropped and counted. Returns records queued. */
static uint64_t drain_thread(gw_thread *thread, uint64_t now, int final, int connected, size_t *budget) {
  gw_record open[GW_STACKS_PER_THREAD * GW_OPEN_REPORT_DEPTH];
  size_t open_count = connected ? collect_open(thread, open, sizeof open / sizeof open[0], now, final) : 0;
  uint64_t head = gw_load_acquire(&thread->head);
  uint64_t tail = thread->sender.tail;
  uint64_t available = head - tail;
  uint64_t total = available + open_count;
  if (total == 0) return drain_long_holds(thread, connected);
  if (available > (thread->ring_mask + 1) / 4) S.busy = 1; /* poll faster until it calms down */

  uint64_t queued = 0;
  if (connected) {
    uint64_t fit = *budget / sizeof(gw_record);
    uint64_t take = total < fit ? total : fit;
    uint64_t taken = 0;
    while (taken < take) {
      uint64_t chunk = take - taken;
      if (chunk > GW_RECORDS_PER_FRAME) chunk = GW_RECORDS_PER_FRAME;
      gw_record *records = gw_frame_records_slots(&S.records, thread->id, (uint32_t)chunk);
      if (!records) break;
      for (uint64_t i = 0; i < chunk; i++) {
        uint64_t k = taken + i;
        records[i] = k < open_count ? open[k] : thread->ring[(tail + (k - open_count)) & thread->ring_mask];
      }
      *budget -= chunk * sizeof(gw_record);
      taken += chunk;
    }
    queued = taken;
    /* Over budget (a slow server): the rest is dropped, except long ranges (gw_keep_always). */
    gw_record kept[GW_LONG_HOLD_RECORDS];
    uint32_t kept_count = 0;
    for (uint64_t k = taken; k < total && kept_count < GW_LONG_HOLD_RECORDS; k++) {
      if (k < open_count) continue;
      const gw_record *r = &thread->ring[(tail + (k - open_count)) & thread->ring_mask];
      if (r->kind == GW_RECORD_RANGE && gw_keep_always(r->start_ns, r->end_ns)) kept[kept_count++] = *r;
    }
    if (kept_count && gw_frame_records(&S.records, thread->id, kept, kept_count)) queued += kept_count;
  }
  S.dropped += total - queued;
  gw_store_release(&thread->sender.tail, head);
  return queued + drain_long_holds(thread, connected);
}

/* Removes `thread` (already drained, exited) from the registry. Producers only ever
 * prepend to the head, so only an unlink at the head needs a CAS. */
static void unlink_thread(gw_thread **link, gw_thread *thread) {
  if (link == &gw_rt.threads) {
    gw_thread *expected = thread;
    if (__atomic_compare_exchange_n(&gw_rt.threads, &expected, thread->next, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
      return;
    for (gw_thread *p = expected; p; p = p->next)
      if (p->next == thread) {
        p->next = thread->next;
        return;
      }
  } else {
    *link = thread->next;
  }
}

static uint64_t dropped_total(void) {
  uint64_t dropped = S.dropped + gw_transport_dropped() + gw_load_relaxed(&gw_rt.lost_threads);
  for (gw_thread *thread = gw_load_acquire(&gw_rt.threads); thread; thread = thread->next)
    dropped += gw_load_relaxed(&thread->dropped);
  return dropped;
}

/* The region carries the drop count too: records lost in the last flush at exit (a server
 * that stalled) are never followed by a STATUS, and must still be known as lost. */
static void publish_dropped(uint64_t dropped) {
  if (gw_rt.region) __atomic_store_n(&gw_rt.region->dropped_events, dropped, __ATOMIC_RELEASE);
}

static void queue_status(uint32_t thread_count, uint32_t flags) {
  uint64_t dropped = dropped_total();
  uint64_t unmatched = S.unmatched_reaped;
  for (gw_thread *thread = gw_load_acquire(&gw_rt.threads); thread; thread = thread->next)
    unmatched += gw_load_relaxed(&thread->unmatched_pops);
  publish_dropped(dropped);
  gw_frame_status(&S.records, dropped, unmatched, thread_count, flags);
}

/* The sender thread stops for a fork and its socket ends with it (its own descriptor table):
 * tell the server, so that what it was told is open stays open until the next connection
 * of this process says how it ended. Non-blocking: if it cannot be written, the server
 * closes those ranges at the disconnection, as for any lost connection. */
static void hand_over(void) {
  if (!gw_transport_connected()) return;
  uint32_t thread_count = 0;
  for (gw_thread *thread = gw_load_acquire(&gw_rt.threads); thread; thread = thread->next)
    thread_count += !gw_load_acquire(&thread->exited);
  S.definitions.size = 0;
  S.records.size = 0;
  queue_status(thread_count, GW_STATUS_RECONNECTING);
  gw_transport_queue(&S.definitions, &S.records, 0);
  gw_transport_write();
}

/* ---- the totals (the shared region, shared_totals.c) ---- */

static inline gw_shared_slot *slot_at(uint32_t i) { return (gw_shared_slot *)(gw_rt.region + 1) + i; }

/* GIL_TOTALS of every slot that changed since the connection last had it; a slot whose thread
 * the connection never saw (it exited before this connection) gets its THREAD first, and a
 * THREAD_EXIT after when it has ended. */
static void queue_totals(void) {
  uint32_t high = gw_load_acquire(&gw_rt.slots_high);
  for (uint32_t i = 0; i < high && i < GW_SHARED_SLOTS; i++) {
    gw_shared_slot *slot = slot_at(i);
    uint32_t thread = gw_load_acquire(&slot->thread);
    if (!thread) continue;
    uint32_t seq = gw_load_acquire(&slot->seq);
    if (thread == S.slot_thread_sent[i] && seq == S.slot_seq_sent[i]) continue;
    gw_gil_totals totals[GW_GIL_SLOTS];
    uint32_t count;
    if (!gw_gil_snapshot(slot, totals, &count, &seq) || gw_load_acquire(&slot->thread) != thread) continue;
    if (thread != S.slot_thread_sent[i]) S.slot_info_sent[i] = 0;
    int known = S.slot_info_sent[i];
    int alive = 0;
    for (gw_thread *t = gw_load_acquire(&gw_rt.threads); t && !alive; t = t->next)
      alive = t->slot == slot && t->sender.info_sent;
    if (!known && !alive) gw_frame_slot_info(&S.definitions, slot);
    S.slot_info_sent[i] = 1;
    if (count) gw_frame_gil_totals(&S.records, thread, totals, count);
    if (!known && !alive && gw_load_acquire(&slot->exited)) gw_frame_thread_exit(&S.records, thread, gw_now_ns());
    S.slot_thread_sent[i] = thread;
    S.slot_seq_sent[i] = seq;
  }
}

static void queue_retired(void) {
  gw_gil_totals retired[GW_GIL_SLOTS];
  uint32_t count;
  uint32_t seq = gw_load_acquire(&gw_rt.region->retired_seq);
  if (!gw_region_retired(retired, &count)) return; /* a fold or a slot-less count right now */
  gw_frame_gil_totals(&S.records, GW_RETIRED_THREADS, retired, count);
  S.retired_seq_sent = seq;
  S.retired_sent = 1;
}

/* A fold moved `thread`'s totals into the retired sum: the receiver moves what it last had
 * of them (the latest, queued this tick) out of the thread, before the new retired sum. */
static void on_folded(uint32_t index, uint32_t thread) {
  S.slot_thread_sent[index] = 0;
  S.slot_info_sent[index] = 0;
  if (gw_transport_connected()) gw_frame_thread_folded(&S.records, thread);
}

/* ---- one tick ---- */

/* One round. The sender thread is stopped around fork(), so a child never inherits the
 * registry or these buffers half-edited. */
static void tick(int final) {
  gw_clock_tick();
  uint64_t now = gw_now_ns();
  if (gw_transport_connect_if_due(now)) {
    reset_connection_state();
    /* A server is here: the totals region gets the name it will look for (before HELLO
     * reaches it, which this tick writes). */
    gw_region_publish(S.region_fd);
    S.region_fd = -1;
  }
  int connected = gw_transport_connected();
  S.definitions.size = 0;
  S.records.size = 0;

  size_t limit = gw_rt.config.send_buffer_bytes;
  size_t pending = gw_transport_pending_bytes();
  size_t budget = limit > pending ? limit - pending : 0;
  uint64_t queued = 0;
  uint32_t thread_count = 0;
  if (connected && !S.retired_sent) queue_retired(); /* first on each connection: the counts come from totals */
  gw_thread **link = &gw_rt.threads;
  gw_thread *thread = gw_load_acquire(&gw_rt.threads);
  while (thread) {
    /* Read `exited` before draining: once set, every record of the thread is in its ring. */
    int exited = gw_load_acquire(&thread->exited);
    if (connected) {
      gw_frame_thread_info(&S.definitions, thread, now);
      gw_sampler_observe(thread, now);
    } else {
      gw_thread_name_refresh(thread, now); /* its slot keeps the name for a later server */
    }
    queued += drain_thread(thread, now, final, connected, &budget);
    gw_thread *next = thread->next;
    if (exited) {
      /* Exited: its slot keeps its final totals (queue_totals sends them) until a fold. */
      gw_hold_cause causes[2];
      size_t count = gw_sampler_forget(thread, causes, 2);
      if (connected) {
        for (size_t i = 0; i < count; i++) gw_frame_hold_cause(&S.records, &causes[i]);
        gw_frame_thread_exit(&S.records, thread->id, now);
        if (thread->slot && thread->sender.info_sent)
          S.slot_info_sent[thread->slot - slot_at(0)] = 1; /* no second THREAD */
      }
      S.dropped += thread->dropped;
      S.unmatched_reaped += thread->unmatched_pops;
      if (thread->slot) gw_store_release(&thread->slot->exited, 2u); /* its slot may be folded from now on */
      unlink_thread(link, thread);
      free(thread->ring);
      free(thread);
    } else {
      thread_count++;
      link = &thread->next;
    }
    thread = next;
  }

  /* The totals: a server that is not reading gets them when it catches up (they are
   * cumulative), except at the end. Then room for threads to come, by folding exited ones. */
  if (connected && (gw_transport_pending_bytes() < limit || final)) queue_totals();
  gw_region_fold_exited(on_folded);
  if (connected && gw_load_acquire(&gw_rt.region->retired_seq) != S.retired_seq_sent) queue_retired();

  S.sampling = 0;
  if (connected) {
    gw_hold_cause causes[8];
    size_t count = gw_sampler_end_tick(now, causes, sizeof causes / sizeof causes[0], &S.sampling, final);
    for (size_t i = 0; i < count; i++) gw_frame_hold_cause(&S.records, &causes[i]);
    gw_frame_strings(&S.definitions);
    /* Idle (nothing new, no GIL range open): a heartbeat a second instead of every tick, and
     * the sender sleeps longer (GW_IDLE_TICK_MS), so an idle process costs next to nothing. */
    int heartbeat = final || !S.status_sent || now - S.status_sent_ns >= GW_IDLE_STATUS_NS;
    int news = queued > 0 || S.definitions.size > 0 || S.records.size > 0 || S.sampling;
    int gil_busy = gw_frame_gil_state(&S.records, now, heartbeat || news);
    S.idle_ticks = news || gil_busy ? 0 : S.idle_ticks + 1;
    if (news || gil_busy || heartbeat) {
      queue_status(thread_count, final ? GW_STATUS_FINAL : 0);
      S.status_sent = 1;
      S.status_sent_ns = now;
    }
    gw_transport_queue(&S.definitions, &S.records, queued);
  }
  gw_transport_write();
}

/* ---- the thread ---- */

/* True when every other thread of the process has exited and only the thread-group
 * leader's zombie remains (the main thread called pthread_exit, or a thread that forked
 * has returned in the child). Without us the process would have ended then; glibc ends it
 * when the last thread exits, so the sender must not be that last thread for long. */
static int only_sender_left(void) {
  char buffer[1024];
  int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buffer, sizeof buffer - 1);
  close(fd);
  if (n <= 0) return 0;
  buffer[n] = 0;
  const char *p = strrchr(buffer, ')'); /* the command name may contain spaces */
  long threads = 0;
  /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
   * stime cutime cstime priority nice num_threads */
  if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %ld", &threads) != 1)
    return 0;
  if (threads != 2 + (gw_frames_reader_tid() != 0)) return 0; /* the frame reader ends within 1 s */
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)getpid());
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  n = read(fd, buffer, sizeof buffer - 1);
  close(fd);
  if (n <= 0) return 0;
  buffer[n] = 0;
  p = strrchr(buffer, ')');
  return p && p[1] == ' ' && p[2] == 'Z';
}

/* The last tick, at exit. With the totals in a file the server reads once the process is
 * gone, exit waits for the server only while it reads: a stalled one costs GW_EXIT_STALL_MS,
 * and the ranges it did not take are dropped (counted), never a count. Without one (TCP) the
 * totals travel only in frames, so the flush waits for the socket, at most GW_EXIT_FLUSH_MS. */
static void final_flush(void) {
  uint64_t deadline = gw_now_ns() + (GW_EXIT_FLUSH_MS - 50) * 1000000ull;
  if (!gw_rt.region_file) gw_transport_connect_now(); /* the last chance: a server that came back gets the totals */
  tick(1);
  gw_transport_flush_until(deadline, gw_rt.region_file ? GW_EXIT_STALL_MS : GW_EXIT_FLUSH_MS);
  publish_dropped(dropped_total());
}

static void *sender_main(void *arg) {
  (void)arg;
  unsigned ticks = 0;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL); /* the host's signals are not ours to take */
  prctl(PR_SET_NAME, "gilwatch-send");    /* by the thread itself: no /proc file opened */
  S.tid = (pid_t)syscall(SYS_gettid);
  int region_fd = gw_load_acquire(&gw_rt.region_fd);
  gw_transport_thread_starts(region_fd);
  S.region_fd = gw_transport_private_fds() ? region_fd : -1;
  gw_store_release(&S.table_ready, 1);
  syscall(SYS_futex, &S.table_ready, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
  for (;;) {
    /* Sleep one tick (a short one while rings fill fast), or less if the exit flush bumps
     * wake_word. Producers never wake us: that would be a syscall on their hot path. */
    long pause_ms = S.busy                                ? GW_BUSY_TICK_MS
                    : S.sampling                          ? GW_SAMPLE_MS
                    : S.idle_ticks >= GW_IDLE_AFTER_TICKS ? GW_IDLE_TICK_MS
                                                          : GW_TICK_MS;
    struct timespec pause = {0, pause_ms * 1000000L};
    S.busy = 0;
    syscall(SYS_futex, &S.wake_word, FUTEX_WAIT_PRIVATE, gw_load_acquire(&S.wake_word), &pause, NULL, 0);
    if (gw_load_acquire(&S.stop_requested)) {
      /* fork: with a private table the socket ends with this thread, so hand the server what
       * it takes now; otherwise pending bytes wait for the restart. */
      if (gw_transport_private_fds()) hand_over();
      return NULL;
    }
    uint64_t requested = gw_load_acquire(&S.exit_requested);
    if (requested != gw_load_relaxed(&S.exit_done)) {
      final_flush();
      gw_store_release(&S.exit_done, requested);
      __atomic_add_fetch(&S.exit_word, 1, __ATOMIC_RELEASE);
      syscall(SYS_futex, &S.exit_word, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
      continue;
    }
    tick(0);
    if (++ticks % 10 == 0 && only_sender_left()) {
      /* Flush, then exit this thread: glibc ends the process as it would have without us. */
      final_flush();
      pthread_detach(pthread_self()); /* nobody will join it: the process ends with it */
      gw_store_release(&S.running, 0);
      return NULL;
    }
  }
}

/* ---- lifecycle: start, fork, exit ---- */

/* Starts the thread; the caller holds S.lifecycle. Joinable: a fork waits for it to end. */
static int spawn(void) {
  S.stop_requested = 0;
  S.table_ready = 0;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  int ok = pthread_create(&S.thread, &attr, sender_main, NULL) == 0;
  pthread_attr_destroy(&attr);
  gw_store_release(&S.running, ok);
  if (ok && gw_rt.region_fd >= 0) {
    /* The region's descriptor leaves the program's table as soon as the thread has its copy
     * (a few microseconds; at most 100 ms, then it stays with the program until exec). */
    struct timespec limit = {0, 100000000};
    while (!gw_load_acquire(&S.table_ready) &&
           syscall(SYS_futex, &S.table_ready, FUTEX_WAIT_PRIVATE, 0, &limit, NULL, 0) == 0) {}
    if (gw_load_acquire(&S.table_ready)) gw_region_handed_over(gw_transport_private_fds());
  }
  return ok;
}

int gw_sender_start(void) {
  pthread_mutex_lock(&S.lifecycle);
  int ok = spawn();
  pthread_mutex_unlock(&S.lifecycle);
  return ok;
}

void gw_sender_before_fork(void) {
  pthread_mutex_lock(&S.lifecycle); /* released in the parent and the child handlers */
  S.stopped_for_fork = 0;
  if (!gw_load_acquire(&S.running)) return;
  gw_store_release(&S.stop_requested, 1);
  __atomic_add_fetch(&S.wake_word, 1, __ATOMIC_RELEASE);
  syscall(SYS_futex, &S.wake_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
  pthread_join(S.thread, NULL);
  /* pthread_join returns once the thread's stack is free, which the kernel signals before it
   * unlists the thread; CPython 3.12+ counts the process's threads right after fork() and
   * warns if there is more than one. Wait (at most 20 ms) until ours is gone from the list. */
  for (int i = 0; i < 400 && S.tid > 0 && syscall(SYS_tgkill, getpid(), S.tid, 0) == 0; i++) {
    struct timespec pause = {0, 50000};
    nanosleep(&pause, NULL);
  }
  gw_store_release(&S.running, 0);
  S.stopped_for_fork = 1;
}

void gw_sender_after_fork_parent(void) {
  if (S.stopped_for_fork) gw_store_release(&gw_rt.sender_wanted, 1);
  pthread_mutex_unlock(&S.lifecycle);
}

void gw_sender_after_fork_child(void) {
  pthread_mutex_init(&S.lifecycle, NULL);
  gw_transport_after_fork_child();
  S.region_fd = -1; /* the parent's, in a thread the child does not have */
  S.dropped = 0;
  S.unmatched_reaped = 0;
  S.exit_requested = 0;
  S.exit_done = 0;
  memset(S.slot_thread_sent, 0, sizeof S.slot_thread_sent); /* the child's region is a new one */
  memset(S.slot_info_sent, 0, sizeof S.slot_info_sent);
  S.retired_seq_sent = 0;
  S.retired_sent = 0;
  S.running = 0;
  S.stop_requested = 0;
  /* Started by the child's first event: a child that only execs never gets a thread. */
  gw_store_release(&gw_rt.sender_wanted, gw_load_relaxed(&gw_rt.started) ? 1 : 0);
}

void gw_sender_resume(void) {
  int wanted = 1;
  if (!__atomic_compare_exchange_n(&gw_rt.sender_wanted, &wanted, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return;
  pthread_mutex_lock(&S.lifecycle);
  if (!gw_load_acquire(&S.running)) spawn();
  pthread_mutex_unlock(&S.lifecycle);
}

void gw_sender_flush_at_exit(void) {
  gw_sender_resume(); /* stopped for a fork and not yet restarted: events may be waiting */
  if (!gw_load_acquire(&S.running) || pthread_equal(pthread_self(), S.thread)) {
    gw_region_exiting(gw_transport_ever_connected());
    return;
  }
  uint64_t want = __atomic_add_fetch(&S.exit_requested, 1, __ATOMIC_ACQ_REL);
  __atomic_add_fetch(&S.wake_word, 1, __ATOMIC_RELEASE);
  syscall(SYS_futex, &S.wake_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
  /* Woken as soon as the sender is done (no polling interval added to every exit). */
  uint64_t deadline = gw_now_ns() + GW_EXIT_FLUSH_MS * 1000000ull;
  for (;;) {
    uint32_t word = gw_load_acquire(&S.exit_word);
    uint64_t now = gw_now_ns();
    if (gw_load_acquire(&S.exit_done) >= want || now >= deadline) break;
    struct timespec left = {(time_t)((deadline - now) / 1000000000u), (long)((deadline - now) % 1000000000u)};
    syscall(SYS_futex, &S.exit_word, FUTEX_WAIT_PRIVATE, word, &left, NULL, 0);
  }
  gw_region_exiting(gw_transport_ever_connected());
}
