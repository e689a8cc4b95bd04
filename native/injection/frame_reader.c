/*
 * The holders' Python frames, read on a thread of their own ("gilwatch-frames").
 *
 * Frames come from the interpreter's memory through process_vm_readv, which takes this
 * process's memory-map lock for reading. Under disk pressure that lock can be what a long
 * hold waits behind: a page fault under I/O, msync, a thread's mmap or munmap queued as a
 * writer. A sampler that read frames itself would be stuck there with the holder and miss
 * the cheap /proc reads that split the hold. So the sampler only asks (gw_frames_ask) and
 * picks the answer up at a later tick (gw_frames_answer); the reader may be stuck, the
 * sampler never is, and a question still open when its hold ends says why the hold has no
 * location.
 *
 * The reader is started for the first question, waits for the next ones, and ends after
 * GW_FRAME_READER_IDLE_NS without one, so a process without long holds has no such thread
 * (and a busy one does not start a thread, with its stack mapping, per hold); a fork stops
 * it and waits until it is gone (gw_frames_before_fork).
 */
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "frame_reader.h"
#include "python_frames.h"
#include "runtime.h"

typedef struct question {
  /* Written by the sampler while `state` is FREE, then published as ASKED; the answer is
   * written by the reader and published as ANSWERED; the sampler frees it. */
  uint32_t state;
  pid_t tid;
  unsigned long pthread;
  int64_t interp;
  uint64_t key; /* the sampler's: which hold it is for */
  uint64_t asked_ns;
  uint16_t count, depth;
  gw_python_frame frames[GW_CAUSE_FRAMES];
} question;

enum { FREE = 0, ASKED = 1, READING = 2, ANSWERED = 3 };

static question questions[GW_FRAME_QUESTIONS];
static pthread_mutex_t lifecycle = PTHREAD_MUTEX_INITIALIZER;
static pthread_t reader;
static int running;         /* the thread is at work (under `lifecycle`) */
static int joinable;        /* a thread was started and not yet joined (under `lifecycle`) */
static pid_t reader_tid;    /* while it runs: the sampler looks at where it waits */
static pid_t last_tid;      /* the last reader's, for the fork's wait */
static uint32_t asked_word; /* bumped by each question: the idle reader sleeps on it */
static int stop_reader;     /* the fork: end now */

#define GW_FRAME_READER_IDLE_NS 1000000000ull

static void *reader_main(void *arg) {
  (void)arg;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  prctl(PR_SET_NAME, "gilwatch-frames");
  last_tid = (pid_t)syscall(SYS_gettid);
  gw_store_release(&reader_tid, last_tid);
  uint64_t idle_since = 0;
  uint32_t seen = gw_load_acquire(&asked_word);
  for (;;) {
    int asked = 0;
    for (int i = 0; i < GW_FRAME_QUESTIONS; i++) {
      question *q = &questions[i];
      uint32_t expected = ASKED;
      if (!__atomic_compare_exchange_n(&q->state, &expected, READING, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) continue;
      asked = 1;
      q->count = (uint16_t)gw_python_frames(q->tid, q->pthread, q->interp, q->frames, GW_CAUSE_FRAMES, &q->depth);
      gw_store_release(&q->state, ANSWERED);
    }
    if (asked) {
      idle_since = 0;
      continue;
    }
    uint64_t now = gw_now_ns();
    if (!idle_since) idle_since = now;
    if (!gw_load_acquire(&stop_reader) && now - idle_since < GW_FRAME_READER_IDLE_NS) {
      /* Until the next question (its bump of asked_word wakes us), at most 100 ms. */
      struct timespec pause = {0, 100000000L};
      syscall(SYS_futex, &asked_word, FUTEX_WAIT_PRIVATE, seen, &pause, NULL, 0);
      seen = gw_load_acquire(&asked_word);
      continue;
    }
    /* Idle long enough: the thread ends, unless a question came in meanwhile (then it stays). */
    pthread_mutex_lock(&lifecycle);
    int left = 0;
    for (int i = 0; i < GW_FRAME_QUESTIONS; i++) left |= gw_load_acquire(&questions[i].state) == ASKED;
    if (!left) {
      running = 0;
      gw_store_release(&reader_tid, 0);
      pthread_mutex_unlock(&lifecycle);
      return NULL; /* joined by the next gw_frames_ask, or the fork */
    }
    pthread_mutex_unlock(&lifecycle);
  }
}

int gw_frames_ask(pid_t tid, unsigned long pthread, int64_t interp, uint64_t key, uint64_t now) {
  for (int i = 0; i < GW_FRAME_QUESTIONS; i++) {
    question *q = &questions[i];
    if (gw_load_acquire(&q->state) != FREE) continue;
    q->tid = tid;
    q->pthread = pthread;
    q->interp = interp;
    q->key = key;
    q->asked_ns = now;
    q->count = q->depth = 0;
    gw_store_release(&q->state, ASKED);
    __atomic_add_fetch(&asked_word, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, &asked_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    pthread_mutex_lock(&lifecycle);
    if (!running) {
      if (joinable) pthread_join(reader, NULL); /* the last one, done or about to be */
      joinable = 0;
      pthread_attr_t attr;
      pthread_attr_init(&attr);
      pthread_attr_setstacksize(&attr, 128 * 1024);
      running = joinable = pthread_create(&reader, &attr, reader_main, NULL) == 0;
      pthread_attr_destroy(&attr);
      if (!running) gw_store_release(&q->state, FREE);
    }
    pthread_mutex_unlock(&lifecycle);
    return running ? i : -1;
  }
  return -1; /* every question is taken (by reads stuck on the memory map) */
}

int gw_frames_answer(int index, uint64_t key, gw_python_frame *frames, uint16_t *count, uint16_t *depth) {
  if (index < 0 || index >= GW_FRAME_QUESTIONS) return GW_FRAMES_NONE;
  question *q = &questions[index];
  uint32_t state = gw_load_acquire(&q->state);
  if (q->key != key || state == FREE) return GW_FRAMES_NONE;
  if (state != ANSWERED) return GW_FRAMES_PENDING;
  memcpy(frames, q->frames, sizeof q->frames);
  *count = q->count;
  *depth = q->depth;
  gw_store_release(&q->state, FREE);
  return GW_FRAMES_READ;
}

void gw_frames_forget(int index, uint64_t key) {
  if (index < 0 || index >= GW_FRAME_QUESTIONS) return;
  question *q = &questions[index];
  uint32_t expected = ASKED;
  /* Not yet taken up: withdrawn. Being read: its answer is dropped when it comes. */
  if (q->key == key &&
      !__atomic_compare_exchange_n(&q->state, &expected, FREE, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
    expected = ANSWERED;
    __atomic_compare_exchange_n(&q->state, &expected, FREE, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
  }
}

pid_t gw_frames_reader_tid(void) { return gw_load_acquire(&reader_tid); }

void gw_frames_before_fork(void) {
  /* fork() needs the memory-map lock for writing: a reader waiting for it to read holds up
   * the fork anyway. The sender is stopped by now (no new question): the reader answers
   * what is left and ends; wait until it is gone from the process's thread list, so the
   * child has no thread of ours and CPython 3.12+ sees the process as single-threaded. */
  pthread_mutex_lock(&lifecycle);
  int wait = joinable;
  joinable = 0;
  pthread_mutex_unlock(&lifecycle);
  if (!wait) return;
  gw_store_release(&stop_reader, 1);
  __atomic_add_fetch(&asked_word, 1, __ATOMIC_RELEASE);
  syscall(SYS_futex, &asked_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
  pthread_join(reader, NULL);
  gw_store_release(&stop_reader, 0);
  for (int i = 0; i < 400 && last_tid > 0 && syscall(SYS_tgkill, getpid(), last_tid, 0) == 0; i++) {
    struct timespec pause = {0, 50000};
    nanosleep(&pause, NULL);
  }
}

void gw_frames_after_fork_child(void) {
  pthread_mutex_init(&lifecycle, NULL);
  running = joinable = 0;
  reader_tid = last_tid = 0;
  memset(questions, 0, sizeof questions); /* the parent's holds are not ours */
}
