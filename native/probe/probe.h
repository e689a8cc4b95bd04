/*
 * gilwatch probe: GIL ranges from an unmodified CPython, loaded with LD_PRELOAD.
 *
 * CPython's take_gil()/drop_gil() call the pthread mutex and condition functions through the PLT, so
 * the probe sees every call. It finds each GIL by the call pattern of create_gil() and
 * rebuilds wait and hold per thread from the calls on that GIL's four objects, then emits
 * the same NVTX ranges as the NVTX GIL patch ("GIL NVTX Domain": "Waiting for GIL",
 * "Holding GIL", mark "GIL drop request"). Any NVTX tool records them: gilwatch's
 * injection, or Nsight Systems.
 *
 * Every other pthread call passes straight through after a compare or two.
 */
#ifndef GILWATCH_PROBE_H
#define GILWATCH_PROBE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "gil_direct.h"

#define PROBE_MAX_GILS 64

/* CPython's struct _gil_runtime_state keeps these four in this order (3.10-3.15, every
 * build flavour): cond, mutex, switch_cond, switch_mutex. x86-64 glibc sizes. */
#define PROBE_COND_SIZE  48
#define PROBE_MUTEX_SIZE 40

typedef struct probe_gil {
  void *cond;
  void *mutex;
  void *switch_cond;
  void *switch_mutex;
  long long interp_id;
  /* Written only by the thread that owns `mutex` (all transitions happen under it). */
  uint64_t hold_seq;    /* holds started on this GIL */
  uint64_t switches;    /* holder changes: CPython's switch_number */
  uint64_t last_holder; /* the number of the thread that held it last (transitions.c), 0: none */
  int held;
  uint64_t drop_marked_hold; /* hold_seq of the hold that already got a drop-request mark */
  pid_t created_by;          /* the process that created it last */
} probe_gil;

enum probe_object { PROBE_COND, PROBE_MUTEX, PROBE_SWITCH_COND, PROBE_SWITCH_MUTEX };

/* ---- the host's version and layout (python_version.c) ---- */
typedef struct probe_layout {
  int minor;                  /* 3.x of the host, -1 when not (yet) a CPython */
  int free_threaded;          /* a --disable-gil build (3.13+) */
  const char *runtime;        /* _PyRuntime when its _Py_DebugOffsets were read, else NULL */
  uint64_t interp_size;       /* from _Py_DebugOffsets: PyInterpreterState's size, */
  uint64_t interp_id_offset;  /* where its id is, */
  uint64_t gil_locked_offset; /* and where its own GIL's `locked` flag is */
} probe_layout;

/* 1 when the probe may run (a supported CPython, or not a CPython yet); 0 with a one-line
 * reason in `why` otherwise. */
int probe_layout_load(probe_layout *layout, char *why, size_t why_size);
/* Interpreter id of the GIL whose condition variable is at `cond`; -1 for no payload. */
long long probe_layout_interpreter_id(const probe_layout *layout, const char *cond, int ordinal);

/* ---- registry (gils.c) ---- */
extern probe_gil probe_gils[PROBE_MAX_GILS];
extern int probe_gil_count; /* release-stored after an entry is complete */
extern int probe_enabled;   /* 0: not a supported CPython, everything passes through */

static inline probe_gil *probe_find(const void *address, enum probe_object *which) {
  int n = __atomic_load_n(&probe_gil_count, __ATOMIC_ACQUIRE);
  for (int i = 0; i < n; i++) {
    probe_gil *gil = &probe_gils[i];
    if (address == gil->mutex) return *which = PROBE_MUTEX, gil;
    if (address == gil->switch_mutex) return *which = PROBE_SWITCH_MUTEX, gil;
    if (address == gil->cond) return *which = PROBE_COND, gil;
    if (address == gil->switch_cond) return *which = PROBE_SWITCH_COND, gil;
  }
  return NULL;
}

void probe_start(void); /* constructor: version check, real functions */
/* Once NVTX has loaded its tool: its flush for _exit, and its direct calls when it is
 * gilwatch's (gil_direct.h), else NULL. */
gw_gil_direct_fn probe_find_injection(void);
void probe_saw_mutex_init(void *mutex); /* create_gil signature */
void probe_saw_cond_init(void *cond);

/* ---- transitions (transitions.c), each called on the thread that makes the call ---- */
void probe_nvtx_init(void);
void probe_after_lock(probe_gil *gil, enum probe_object which);
void probe_before_unlock(probe_gil *gil, enum probe_object which);
void probe_after_unlock(probe_gil *gil, enum probe_object which);
void probe_before_timedwait(probe_gil *gil);
void probe_after_timedwait(probe_gil *gil, int result);
void probe_before_signal(probe_gil *gil, enum probe_object which);
void probe_gil_created(probe_gil *gil, int recreated);
void probe_end_hold_at_exit(void); /* the calling thread's, at exit() */

#endif
