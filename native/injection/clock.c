/*
 * The TSC clock (runtime.h: gw_now_ns): calibrated and kept on CLOCK_MONOTONIC by the sender
 * thread, so the program pays nothing for it at start and one rdtsc per timestamp after.
 *
 * Used only when the TSC is invariant (CPUID 0x80000007 EDX bit 8: constant rate, running in
 * every power state) and the kernel itself keeps time with it (clocksource "tsc": it found
 * the cores' counters synchronized). Otherwise, and until the first calibration (one tick,
 * 10 ms), timestamps come from clock_gettime.
 *
 * Each re-anchor starts the new line where the old one is at that instant, so a timestamp
 * never goes back, and sets its slope so that it meets CLOCK_MONOTONIC one period later: the
 * two differ by the anchor's reading error (tens of ns) and what the TSC's rate drifted
 * within a period, or by an NTP slew's share; the tests hold it to 2 µs. So a timestamp is
 * not ns-exact CLOCK_MONOTONIC, but durations between two of them are the TSC's. An error
 * beyond STEP_NS (a suspended VM, a clock step) is not slewed away: the line jumps forward to
 * CLOCK_MONOTONIC, or, behind it, waits (a slope of a tenth) until it has caught up.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"

gw_tsc_clock gw_clock;

#define CALIBRATE_AFTER_NS 10000000ull   /* the first slope: over one tick */
#define PERIOD_NS          1000000000ull /* then re-anchored every second */
#define STEP_NS            1000000ull    /* a larger error is not slewed */

#if defined(__x86_64__)
#include <cpuid.h>

static struct {
  int decided, usable;
  uint64_t first_tsc, first_ns;   /* the first reading: the long-run rate is measured from it */
  uint64_t anchor_tsc, anchor_ns; /* the current line's start, and when it was set */
} K;

static int invariant_tsc(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(0x80000000u, &a, &b, &c, &d) || a < 0x80000007u) return 0;
  __get_cpuid(0x80000007u, &a, &b, &c, &d);
  return (d >> 8) & 1;
}

/* The sender's own descriptor table: the program never sees this file. */
static int kernel_uses_tsc(void) {
  int fd = open("/sys/devices/system/clocksource/clocksource0/current_clocksource", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char text[16] = {0};
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  return n >= 3 && strncmp(text, "tsc", 3) == 0 && (text[3] == '\n' || text[3] == 0);
}

/* CLOCK_MONOTONIC and the TSC read together: the pair with the shortest gap of three. */
static void read_pair(uint64_t *tsc, uint64_t *ns) {
  *tsc = 0;
  *ns = 0;
  uint64_t best_gap = UINT64_MAX;
  for (int i = 0; i < 3; i++) {
    uint64_t before = __builtin_ia32_rdtsc();
    uint64_t at = gw_monotonic_ns();
    uint64_t after = __builtin_ia32_rdtsc();
    if (after - before < best_gap) {
      best_gap = after - before;
      *tsc = before + (after - before) / 2;
      *ns = at;
    }
  }
}

static void publish(uint64_t base_tsc, uint64_t base_ns, uint64_t mult) {
  gw_store_relaxed(&gw_clock.seq, gw_clock.seq + 1);
  __atomic_thread_fence(__ATOMIC_RELEASE);
  gw_store_relaxed(&gw_clock.base_tsc, base_tsc);
  gw_store_relaxed(&gw_clock.base_ns, base_ns);
  gw_store_relaxed(&gw_clock.mult, mult);
  gw_store_release(&gw_clock.seq, gw_clock.seq + 1);
}

void gw_clock_tick(void) {
  if (K.decided && !K.usable) return;
  uint64_t tsc, ns;
  if (!K.decided) {
    K.decided = 1;
    K.usable = invariant_tsc() && kernel_uses_tsc();
    if (!K.usable) return;
    read_pair(&K.first_tsc, &K.first_ns);
    return;
  }
  int enabled = gw_load_relaxed(&gw_clock.enabled);
  read_pair(&tsc, &ns);
  if (!enabled) {
    if (ns - K.first_ns < CALIBRATE_AFTER_NS || tsc <= K.first_tsc) return;
    uint64_t mult = (uint64_t)((((unsigned __int128)(ns - K.first_ns)) << 32) / (tsc - K.first_tsc));
    publish(tsc, ns, mult);
    K.anchor_tsc = tsc;
    K.anchor_ns = ns;
    gw_store_release(&gw_clock.enabled, 1);
    return;
  }
  if (ns - K.anchor_ns < PERIOD_NS) return;
  if (tsc <= K.first_tsc) return; /* not an invariant counter after all: keep the line */
  /* Where the current line is now, and the long-run rate since the first reading. */
  uint64_t line = gw_clock.base_ns + (uint64_t)(((unsigned __int128)(tsc - gw_clock.base_tsc) * gw_clock.mult) >> 32);
  unsigned __int128 rate = (((unsigned __int128)(ns - K.first_ns)) << 32) / (tsc - K.first_tsc);
  uint64_t period_ticks = (uint64_t)(((unsigned __int128)PERIOD_NS << 32) / rate);
  if (!period_ticks) return;
  int64_t error = (int64_t)(ns - line); /* CLOCK_MONOTONIC ahead of the line: positive */
  uint64_t mult;
  if (error > (int64_t)STEP_NS) {
    line = ns; /* forward: a jump, never back */
    mult = (uint64_t)rate;
  } else if (error < -(int64_t)STEP_NS) {
    mult = (uint64_t)rate / 10; /* ahead of CLOCK_MONOTONIC by much: slow down until it catches up */
  } else {
    /* Reach CLOCK_MONOTONIC (plus its own advance) one period from now. */
    uint64_t target = (uint64_t)((int64_t)PERIOD_NS + error);
    mult = (uint64_t)(((unsigned __int128)target << 32) / period_ticks);
  }
  publish(tsc, line, mult);
  K.anchor_tsc = tsc;
  K.anchor_ns = ns;
}

#else
void gw_clock_tick(void) {}
#endif
