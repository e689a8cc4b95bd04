/* Per-thread state: registration on a thread's first event, and its end at thread exit. */
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime.h"

__thread gw_thread *gw_tls_thread __attribute__((tls_model("initial-exec")));
/* Set once the thread's exit destructor ran: later events (from other TLS destructors) are
 * not recorded, so a dying thread never registers a second time. */
static __thread int tls_exited __attribute__((tls_model("initial-exec")));

gw_thread *gw_thread_slow(void) {
  if (tls_exited || !gw_load_acquire(&gw_rt.started)) return NULL;
  gw_thread *thread = NULL;
  gw_record *ring = malloc((size_t)gw_rt.config.ring_events * sizeof(gw_record));
  if (ring && posix_memalign((void **)&thread, GW_CACHELINE, sizeof *thread) == 0) {
    memset(thread, 0, sizeof *thread);
  } else {
    free(ring);
    __atomic_fetch_add(&gw_rt.lost_threads, 1, __ATOMIC_RELAXED);
    tls_exited = 1; /* do not retry the allocation on every event */
    return NULL;
  }
  thread->ring = ring;
  thread->look.frames_question = -1;
  thread->ring_mask = gw_rt.config.ring_events - 1;
  thread->tid = (pid_t)syscall(SYS_gettid);
  thread->pthread = (unsigned long)pthread_self();
  prctl(PR_GET_NAME, thread->start_name, 0, 0, 0);
  thread->id = __atomic_add_fetch(&gw_rt.next_thread_id, 1, __ATOMIC_RELAXED);
  thread->slot =
      gw_region_claim(thread->id, thread->tid, thread->start_name); /* NULL: it counts into the retired sum */

  gw_thread *head = gw_load_relaxed(&gw_rt.threads);
  do thread->next = head;
  while (!__atomic_compare_exchange_n(&gw_rt.threads, &head, thread, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED));

  pthread_setspecific(gw_rt.exit_key, thread);
  gw_tls_thread = thread;
  return thread;
}

void gw_thread_close_open_ranges(gw_thread *thread, uint64_t now_ns) {
  uint32_t stacks = thread->stack_count;
  for (uint32_t i = 0; i < stacks; i++) {
    gw_stack *stack = &thread->stacks[i];
    for (uint32_t depth = stack->depth; depth-- > 0;) {
      if (depth >= GW_STACK_DEPTH) continue;
      const gw_stack_entry *entry = &stack->entries[depth];
      if (stack->domain == gw_rt.gil_domain && entry->message == gw_rt.gil_waiting)
        gw_gil_wait_ends(entry->payload_type, entry->payload, now_ns); /* it stops waiting too */
      gw_record *record = gw_ring_claim(thread);
      if (!record) break;
      *record = (gw_record){.kind = GW_RECORD_RANGE,
                            .payload_type = entry->payload_type,
                            .depth = (uint8_t)depth,
                            .flags = GW_FLAG_CLOSED_BY_THREAD_EXIT,
                            .message = entry->message,
                            .domain = stack->domain,
                            .aux = entry->category,
                            .start_ns = entry->start_ns,
                            .end_ns = now_ns,
                            .payload = entry->payload};
      gw_ring_publish(thread);
    }
    gw_store_release(&stack->depth, 0);
  }
}

/* pthread key destructor: runs on the exiting thread (not for the main thread at exit()). */
void gw_thread_on_exit(void *arg) {
  gw_thread *thread = arg;
  gw_thread_close_open_ranges(thread, gw_now_ns());
  gw_tls_thread = NULL;
  tls_exited = 1;
  if (thread->slot) gw_store_release(&thread->slot->exited, 1); /* its totals are final */
  gw_store_release(&thread->exited, 1);                         /* last touch: the sender may free it from now on */
}

void gw_thread_forget_connection(gw_thread *thread) {
  thread->sender.info_sent = 0;
  memset(thread->sender.reported_start, 0, sizeof thread->sender.reported_start);
}
