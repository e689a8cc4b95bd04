/*
 * Finding the GILs. create_gil() initialises, on one thread and in this order,
 *   pthread_mutex_init(&mutex), pthread_mutex_init(&switch_mutex),
 *   pthread_cond_init(&cond), pthread_cond_init(&switch_cond)
 * at fixed distances (cond, mutex, switch_cond, switch_mutex are consecutive fields).
 * That pattern finds the main GIL, sub-interpreter GILs (3.12+) and the GIL recreated in
 * a fork child, on every CPython 3.10-3.15 build, with or without symbols.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"

probe_gil probe_gils[PROBE_MAX_GILS];
int probe_gil_count;
int probe_enabled = 1;

static probe_layout layout;
static int registry_lock; /* a spinlock: the pthread functions are the ones we wrap */

/* The create_gil pattern as seen so far on this thread. */
static __thread struct {
  char *mutex;
  char *switch_mutex;
  char *cond;
  int step;
} pattern __attribute__((tls_model("initial-exec")));

void probe_start(void) {
  char why[200];
  if (!probe_layout_load(&layout, why, sizeof why)) {
    probe_enabled = 0;
    fprintf(stderr, "gilwatch probe: %s\n", why);
  }
}

static void found(char *cond, char *mutex, char *switch_cond, char *switch_mutex) {
  while (__atomic_exchange_n(&registry_lock, 1, __ATOMIC_ACQUIRE)) {}
  int n = probe_gil_count;
  for (int i = 0; i < n; i++) {
    if (probe_gils[i].cond == cond) { /* the same GIL created again (fork child, re-init) */
      probe_gils[i].interp_id = probe_layout_interpreter_id(&layout, cond, i);
      __atomic_store_n(&registry_lock, 0, __ATOMIC_RELEASE);
      probe_gil_created(&probe_gils[i], 1);
      return;
    }
  }
  if (n == PROBE_MAX_GILS) {
    __atomic_store_n(&registry_lock, 0, __ATOMIC_RELEASE);
    return;
  }
  probe_gil *gil = &probe_gils[n];
  memset(gil, 0, sizeof *gil);
  gil->cond = cond;
  gil->mutex = mutex;
  gil->switch_cond = switch_cond;
  gil->switch_mutex = switch_mutex;
  gil->interp_id = probe_layout_interpreter_id(&layout, cond, n);
  __atomic_store_n(&probe_gil_count, n + 1, __ATOMIC_RELEASE);
  __atomic_store_n(&registry_lock, 0, __ATOMIC_RELEASE);
  probe_gil_created(gil, 0);
}

void probe_saw_mutex_init(void *mutex) {
  char *m = mutex;
  if (pattern.step == 1 && m == pattern.mutex + PROBE_MUTEX_SIZE + PROBE_COND_SIZE) {
    pattern.switch_mutex = m;
    pattern.step = 2;
    return;
  }
  pattern.mutex = m;
  pattern.step = 1;
}

void probe_saw_cond_init(void *cond) {
  char *c = cond;
  if (pattern.step == 2 && c == pattern.mutex - PROBE_COND_SIZE) {
    pattern.cond = c;
    pattern.step = 3;
    return;
  }
  if (pattern.step == 3 && c == pattern.mutex + PROBE_MUTEX_SIZE) {
    pattern.step = 0;
    found(pattern.cond, pattern.mutex, c, pattern.switch_mutex);
    return;
  }
  pattern.step = 0;
}
