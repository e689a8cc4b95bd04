/*
 * Wait and hold, rebuilt per thread from the pthread calls CPython makes on a GIL
 * (M = mutex, C = cond, SM/SC = switch mutex/cond), and emitted as NVTX ranges at the
 * points where the NVTX GIL patch emits them:
 *
 *   timedwait(C, M), first in a take_gil()        -> "Waiting for GIL" begins
 *   unlock(SM) after lock(SM) while owning M       -> after `locked = 1`: the wait ends,
 *                                                     "Holding GIL" begins
 *   signal(C) while owning M and holding           -> the hold ends (drop_gil has just
 *                                                     stored `locked = 0` under M)
 *   unlock(M) while still waiting                  -> the waiter gave up (must exit)
 *   timedwait(C, M) again after a timeout with no   -> mark "GIL drop request" (once per hold)
 *     holder change and the GIL still held
 *   lock(SM) + wait(SC, SM) without owning M       -> the forced-switch hand-off: nothing
 *
 * glibc's condition wait re-locks M internally, without the PLT, so only CPython's own
 * calls are seen. The per-GIL fields change only under M.
 */
#include <errno.h>
#include <nvtx3/nvToolsExt.h>
#include <stdlib.h>
#include <unistd.h>

#include "gil_direct.h"
#include "gil_names.h"
#include "probe.h"

enum { NONE, WAITING, HOLDING };

static nvtxDomainHandle_t domain;
static nvtxStringHandle_t waiting_message, holding_message, drop_message;
static uint64_t next_thread_id;
/* gilwatch's injection, when it is the NVTX tool: the transitions as plain calls (gil_direct.h). */
static const gw_gil_direct *direct;

static __thread struct {
  probe_gil *owned; /* the GIL whose mutex this thread holds */
  probe_gil *gil;   /* the GIL the open range belongs to */
  int state;
  int pending_hold; /* lock(SM) while owning M: the hold starts at unlock(SM) */
  int timed_out;
  uint64_t saved_switches;
  uint64_t id; /* the thread's number, from 1: who held a GIL last, without a syscall */
} T __attribute__((tls_model("initial-exec")));

/* Called when the first GIL is found (inside create_gil, before anyone can wait on it), so
 * NVTX loads its tool there and not in the middle of a GIL transition. */
void probe_nvtx_init(void) {
  if (domain) return;
  const char *name = getenv("GILWATCH_PROBE_DOMAIN"); /* tests run the probe beside the patch */
  int own_domain = name && *name;
  nvtxDomainHandle_t d = nvtxDomainCreateA(own_domain ? name : GW_GIL_DOMAIN);
  waiting_message = nvtxDomainRegisterStringA(d, GW_GIL_WAITING);
  holding_message = nvtxDomainRegisterStringA(d, GW_GIL_HOLDING);
  drop_message = nvtxDomainRegisterStringA(d, GW_GIL_DROP_REQUEST);
  domain = d;
  gw_gil_direct_fn find_direct = probe_find_injection();
  const gw_gil_direct *calls = find_direct && !own_domain && !getenv("GILWATCH_PROBE_VIA_NVTX") ? find_direct() : NULL;
  if (calls && calls->version == GW_GIL_DIRECT_VERSION) direct = calls;
}

static void attributes(nvtxEventAttributes_t *attr, nvtxStringHandle_t message, const probe_gil *gil) {
  *attr = (nvtxEventAttributes_t){0};
  attr->version = NVTX_VERSION;
  attr->size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
  attr->messageType = NVTX_MESSAGE_TYPE_REGISTERED;
  attr->message.registered = message;
  if (gil->interp_id >= 0) {
    attr->payloadType = NVTX_PAYLOAD_TYPE_INT64;
    attr->payload.llValue = gil->interp_id;
  }
}

static void push(nvtxStringHandle_t message, const probe_gil *gil) {
  if (direct) {
    (message == holding_message ? direct->hold_begins : direct->wait_begins)(gil->interp_id);
    return;
  }
  nvtxEventAttributes_t attr;
  attributes(&attr, message, gil);
  nvtxDomainRangePushEx(domain, &attr);
}

static void pop(void) {
  if (direct)
    direct->range_ends();
  else
    nvtxDomainRangePop(domain);
}

static void end_range(void) {
  pop();
  T.state = NONE;
  T.gil = NULL;
}

/* The calling thread's hold on `gil` ends (`locked = 0` stored, or the process exits). */
static void end_hold(probe_gil *gil) {
  end_range();
  gil->held = 0;
}

static void begin_hold(probe_gil *gil) {
  if (T.state == WAITING) pop();
  push(holding_message, gil);
  T.state = HOLDING;
  T.gil = gil;
  gil->hold_seq++;
  /* A number of its own, never reused (a new thread may get an exited one's TLS address or,
   * later, its tid). */
  if (!T.id) T.id = __atomic_add_fetch(&next_thread_id, 1, __ATOMIC_RELAXED);
  if (gil->last_holder != T.id) {
    gil->last_holder = T.id;
    gil->switches++;
  }
  gil->held = 1;
}

void probe_after_lock(probe_gil *gil, enum probe_object which) {
  if (which == PROBE_MUTEX) {
    T.owned = gil;
  } else if (which == PROBE_SWITCH_MUTEX && T.owned == gil) {
    T.pending_hold = 1; /* take_gil: `locked = 1` comes next, under both mutexes */
  }
}

void probe_before_unlock(probe_gil *gil, enum probe_object which) {
  if (which != PROBE_MUTEX) return;
  if (T.state == WAITING && T.gil == gil) end_range(); /* gave up without the GIL */
  T.owned = NULL;
}

void probe_after_unlock(probe_gil *gil, enum probe_object which) {
  if (which == PROBE_SWITCH_MUTEX && T.pending_hold) {
    T.pending_hold = 0;
    if (T.state != HOLDING) begin_hold(gil);
  }
}

void probe_before_timedwait(probe_gil *gil) {
  T.owned = gil;
  if (T.state == NONE) {
    push(waiting_message, gil);
    T.state = WAITING;
    T.gil = gil;
    T.timed_out = 0;
  } else if (T.state == WAITING && T.timed_out && gil->held && gil->switches == T.saved_switches &&
             gil->drop_marked_hold != gil->hold_seq) {
    /* CPython timed out, saw no switch and set the drop request before waiting again. */
    if (direct) {
      direct->drop_requested(gil->interp_id);
    } else {
      nvtxEventAttributes_t attr;
      attributes(&attr, drop_message, gil);
      nvtxDomainMarkEx(domain, &attr);
    }
    gil->drop_marked_hold = gil->hold_seq;
  }
  T.saved_switches = gil->switches;
}

void probe_after_timedwait(probe_gil *gil, int result) {
  T.owned = gil; /* the wait returns with M locked again */
  T.timed_out = result == ETIMEDOUT;
}

void probe_before_signal(probe_gil *gil, enum probe_object which) {
  if (which == PROBE_COND && T.owned == gil && T.state == HOLDING && T.gil == gil) {
    end_hold(gil); /* drop_gil: `locked = 0` was just stored under M */
  }
}

void probe_gil_created(probe_gil *gil, int recreated) {
  probe_nvtx_init();
  pid_t pid = getpid();
  if (recreated) {
    if (T.gil == gil && gil->created_by == pid) end_range(); /* re-initialisation: it ends with its GIL */
    /* Fork child: forget, without popping, what the parent had open. */
    if (T.gil == gil) {
      T.state = NONE;
      T.gil = NULL;
    }
    T.owned = NULL;
    T.pending_hold = 0;
    gil->held = 0;
    gil->last_holder = 0;
  }
  gil->created_by = pid;
}

/* exit() has begun, after Py_Finalize: the finalizing thread still owns the GIL but runs no
 * Python any more. Its hold ends here, so the exit flush that follows (which waits for the
 * server) is not counted as the program's hold. */
void probe_end_hold_at_exit(void) {
  if (T.state == HOLDING && T.gil) end_hold(T.gil);
}
