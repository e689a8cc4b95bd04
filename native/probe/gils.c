/*
 * Finding the GILs. create_gil() initialises, on one thread and in this order,
 *   pthread_mutex_init(&mutex), pthread_mutex_init(&switch_mutex),
 *   pthread_cond_init(&cond), pthread_cond_init(&switch_cond)
 * at fixed distances (cond, mutex, switch_cond, switch_mutex are consecutive fields).
 * That pattern finds the main GIL, sub-interpreter GILs (3.12+) and the GIL recreated in
 * a fork child, on every CPython 3.10-3.13 build, with or without symbols.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"

probe_gil probe_gils[PROBE_MAX_GILS];
int probe_gil_count;
int probe_enabled = 1;

static int python_minor = -1; /* 3.x of the host, -1 when not (yet) a CPython */
static const char *runtime;   /* _PyRuntime, for _Py_DebugOffsets (3.13+) */
static int registry_lock;     /* a spinlock: the pthread functions are the ones we wrap */

/* The create_gil pattern as seen so far on this thread. */
static __thread struct {
  char *mutex;
  char *switch_mutex;
  char *cond;
  int step;
} pattern __attribute__((tls_model("initial-exec")));

static int version_of_host(int *major, int *minor, int *micro) {
  const unsigned long *hex = dlsym(RTLD_DEFAULT, "Py_Version"); /* 3.11+ */
  if (hex) {
    *major = (int)(*hex >> 24);
    *minor = (int)((*hex >> 16) & 0xff);
    *micro = (int)((*hex >> 8) & 0xff);
    return 1;
  }
  const char *(*get_version)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "Py_GetVersion");
  return get_version && sscanf(get_version(), "%d.%d.%d", major, minor, micro) == 3;
}

void probe_start(void) {
  int major, minor, micro;
  if (!version_of_host(&major, &minor, &micro)) return; /* not CPython (yet): patterns only */
  if (major != 3 || minor < 10 || minor > 13) {
    probe_enabled = 0;
    fprintf(stderr, "gilwatch probe: CPython %d.%d.%d is not supported (3.10 to 3.13); its GIL is not monitored\n",
            major, minor, micro);
    return;
  }
  python_minor = minor;
  runtime = dlsym(RTLD_DEFAULT, "_PyRuntime");
}

/* 3.13+: the GIL of an interpreter that owns one is embedded in its PyInterpreterState, and
 * _Py_DebugOffsets (at the start of _PyRuntime) gives where, and where the id is. Before
 * 3.13 the main GIL is 0 and others are numbered in creation order. */
static long long interpreter_id(const char *cond, int ordinal) {
  if (python_minor >= 13 && runtime && memcmp(runtime, "xdebugpy", 8) == 0) {
    uint64_t id_offset, locked_offset, size;
    memcpy(&size, runtime + 48, sizeof size);           /* interpreter_state.size */
    memcpy(&id_offset, runtime + 56, sizeof id_offset);  /* interpreter_state.id */
    memcpy(&locked_offset, runtime + 136, sizeof locked_offset); /* ...gil_runtime_state_locked */
    /* locked is 16 bytes before cond (locked, padding, switch_number) */
    if (id_offset + 8 <= size && locked_offset < size) {
      const char *interp = cond - 16 - locked_offset;
      long long id;
      memcpy(&id, interp + id_offset, sizeof id);
      if (id >= 0 && id < (1ll << 40)) return id;
    }
  }
  return python_minor >= 12 ? ordinal : -1; /* -1: no payload, like the patch on 3.10/3.11 */
}

static void found(char *cond, char *mutex, char *switch_cond, char *switch_mutex) {
  while (__atomic_exchange_n(&registry_lock, 1, __ATOMIC_ACQUIRE)) {
  }
  int n = probe_gil_count;
  for (int i = 0; i < n; i++) {
    if (probe_gils[i].cond == cond) { /* the same GIL created again (fork child, re-init) */
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
  gil->interp_id = interpreter_id(cond, n);
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
