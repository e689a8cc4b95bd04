/*
 * The interposed pthread functions. Each resolves the real one (the next definition after
 * the probe, i.e. glibc's) and adds a GIL check: one load when no GIL is known, a few
 * pointer compares otherwise.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "probe.h"

typedef int (*mutex_init_fn)(pthread_mutex_t *, const pthread_mutexattr_t *);
typedef int (*mutex_fn)(pthread_mutex_t *);
typedef int (*cond_init_fn)(pthread_cond_t *, const pthread_condattr_t *);
typedef int (*cond_signal_fn)(pthread_cond_t *);
typedef int (*cond_timedwait_fn)(pthread_cond_t *, pthread_mutex_t *, const struct timespec *);

static struct {
  mutex_init_fn mutex_init;
  mutex_fn mutex_lock;
  mutex_fn mutex_unlock;
  cond_init_fn cond_init;
  cond_signal_fn cond_signal;
  cond_timedwait_fn cond_timedwait;
} real;

/* Condition variables changed ABI in glibc 2.3.2; plain dlsym may return the old compat
 * version, so ask for the current one by name. */
static void *next_cond(const char *name) {
  void *f = dlvsym(RTLD_NEXT, name, "GLIBC_2.3.2");
  return f ? f : dlsym(RTLD_NEXT, name);
}

static void resolve(void) {
  real.mutex_init = (mutex_init_fn)dlsym(RTLD_NEXT, "pthread_mutex_init");
  real.mutex_lock = (mutex_fn)dlsym(RTLD_NEXT, "pthread_mutex_lock");
  real.mutex_unlock = (mutex_fn)dlsym(RTLD_NEXT, "pthread_mutex_unlock");
  real.cond_init = (cond_init_fn)next_cond("pthread_cond_init");
  real.cond_signal = (cond_signal_fn)next_cond("pthread_cond_signal");
  real.cond_timedwait = (cond_timedwait_fn)next_cond("pthread_cond_timedwait");
}

#define REAL(fn) (__builtin_expect(real.fn != NULL, 1) ? real.fn : (resolve(), real.fn))

#define EXPORT __attribute__((visibility("default")))

/* _exit and _Exit end a process without exit handlers (os._exit, multiprocessing's fork
 * workers): first let the injection send what it has. Only in this process or a fork child:
 * a vfork child (no atfork handlers ran, so `own_pid` is the parent's) shares the parent's
 * memory and must touch nothing. */
static pid_t own_pid;
static void (*injection_flush)(void);
static void remember_pid(void) { own_pid = getpid(); }

gw_gil_direct_fn probe_find_injection(void) {
  const char *path = getenv("NVTX_INJECTION64_PATH");
  void *library = path && *path ? dlopen(path, RTLD_NOW | RTLD_NOLOAD) : NULL;
  if (!library) return NULL;
  injection_flush = (void (*)(void))dlsym(library, "gilwatch_flush");
  return (gw_gil_direct_fn)dlsym(library, GW_GIL_DIRECT_SYMBOL);
}

static void flush_before_exit(void) {
  if (injection_flush && getpid() == own_pid) injection_flush();
}

/* Once exit() runs, Python is finalized but daemon threads may still wake up and take the
 * GIL, reading an interpreter that is freed. Stock CPython is spared by exiting at once;
 * our exit flush waits for the server, which would open that window. (3.10 has the same
 * race inside Py_FinalizeEx, without us: about 1 exit in 70 with contending daemon threads
 * crashes; nothing here can close that one.) So from here on, a thread that takes a GIL's
 * mutex lets it go and sleeps until the process ends, as CPython 3.14 itself hangs such
 * threads. The finalizing thread's own hold ends here too: our flush is not its hold. Registered first, this handler
 * runs after every atexit handler registered later and before the libraries' destructors. */
static int exiting;

static void at_exit(void) {
  if (getpid() != own_pid) return;
  __atomic_store_n(&exiting, 1, __ATOMIC_SEQ_CST);
  if (probe_enabled) probe_end_hold_at_exit();
  flush_before_exit(); /* while no daemon thread can run Python */
}

static void hang_if_exiting(pthread_mutex_t *gil_mutex) {
  if (__builtin_expect(!__atomic_load_n(&exiting, __ATOMIC_RELAXED), 1)) return;
  real.mutex_unlock(gil_mutex);
  for (;;) pause();
}

__attribute__((constructor)) static void probe_constructor(void) {
  resolve();
  remember_pid();
  pthread_atfork(NULL, NULL, remember_pid);
  probe_start();
  atexit(at_exit);
}

EXPORT void _exit(int status) {
  flush_before_exit();
  syscall(SYS_exit_group, status);
  __builtin_unreachable();
}

EXPORT void _Exit(int status) {
  flush_before_exit();
  syscall(SYS_exit_group, status);
  __builtin_unreachable();
}

EXPORT int pthread_mutex_init(pthread_mutex_t *mutex, const pthread_mutexattr_t *attr) {
  int result = REAL(mutex_init)(mutex, attr);
  if (probe_enabled) probe_saw_mutex_init(mutex);
  return result;
}

EXPORT int pthread_cond_init(pthread_cond_t *cond, const pthread_condattr_t *attr) {
  int result = REAL(cond_init)(cond, attr);
  if (probe_enabled) probe_saw_cond_init(cond);
  return result;
}

EXPORT int pthread_mutex_lock(pthread_mutex_t *mutex) {
  int result = REAL(mutex_lock)(mutex);
  enum probe_object which;
  probe_gil *gil;
  if (result == 0 && (gil = probe_find(mutex, &which)) != NULL) {
    if (which == PROBE_MUTEX) hang_if_exiting(mutex);
    probe_after_lock(gil, which);
  }
  return result;
}

EXPORT int pthread_mutex_unlock(pthread_mutex_t *mutex) {
  enum probe_object which;
  probe_gil *gil = probe_find(mutex, &which);
  if (!gil) return REAL(mutex_unlock)(mutex);
  probe_before_unlock(gil, which);
  int result = REAL(mutex_unlock)(mutex);
  probe_after_unlock(gil, which);
  return result;
}

EXPORT int pthread_cond_signal(pthread_cond_t *cond) {
  enum probe_object which;
  probe_gil *gil = probe_find(cond, &which);
  if (gil) probe_before_signal(gil, which);
  return REAL(cond_signal)(cond);
}

EXPORT int pthread_cond_timedwait(pthread_cond_t *cond, pthread_mutex_t *mutex, const struct timespec *abstime) {
  enum probe_object which;
  probe_gil *gil = probe_find(cond, &which);
  if (!gil || which != PROBE_COND) return REAL(cond_timedwait)(cond, mutex, abstime);
  probe_before_timedwait(gil);
  int result = REAL(cond_timedwait)(cond, mutex, abstime);
  if (__atomic_load_n(&exiting, __ATOMIC_RELAXED)) probe_before_unlock(gil, PROBE_MUTEX); /* the wait ends */
  hang_if_exiting(mutex);
  probe_after_timedwait(gil, result);
  return result;
}
