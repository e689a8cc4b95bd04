/*
 * Exact GIL totals, counted by each thread in memory only it writes.
 *
 * The ranges a thread records are detail: its ring may overflow in a burst (an uncontended
 * thread re-takes the GIL every microsecond) and the connection may be down. The counts
 * users alert on must not depend on either, so every "Holding GIL" / "Waiting for GIL" pop
 * and "GIL drop request" mark also updates the thread's cumulative totals here, and the
 * sender ships them (GW_FRAME_GIL_TOTALS). Writers are the owning thread only: plain stores
 * between two increments of a per-thread sequence number (a seqlock); the sender copies and
 * retries when the number was odd or changed. On x86-64 stores are not reordered with other
 * stores, so the release fences below cost nothing but the compiler's freedom.
 */
#include <string.h>

#include "runtime.h"

/* The slot for `interp`; a thread that used more GILs than slots folds the rest into the
 * last one (its interpreter id is the first one that slot saw). */
static inline gw_gil_totals *slot_for(gw_thread *thread, int64_t interp) {
  uint32_t n = thread->gil_count;
  for (uint32_t i = 0; i < n; i++)
    if (thread->gil[i].interp == interp) return &thread->gil[i];
  if (GW_UNLIKELY(n == GW_GIL_SLOTS)) return &thread->gil[GW_GIL_SLOTS - 1];
  thread->gil[n].interp = interp;
  thread->gil_count = n + 1;
  return &thread->gil[n];
}

static inline void begin_update(gw_thread *thread) {
  gw_store_relaxed(&thread->gil_seq, thread->gil_seq + 1);
  __atomic_thread_fence(__ATOMIC_RELEASE);
}

static inline void end_update(gw_thread *thread) { gw_store_release(&thread->gil_seq, thread->gil_seq + 1); }

void gw_gil_count_range(gw_thread *thread, uint32_t message, uint8_t payload_type, uint64_t payload, uint64_t start_ns,
                        uint64_t end_ns) {
  uint64_t ns = end_ns > start_ns ? end_ns - start_ns : 0;
  unsigned bucket = gw_duration_bucket(ns);
  begin_update(thread);
  gw_gil_totals *totals = slot_for(thread, gw_interp_of(payload_type, payload));
  if (message == gw_rt.gil_holding) {
    totals->holds++;
    totals->contended_holds += (uint64_t)thread->gil_waited;
    thread->gil_waited = 0;
    totals->hold_ns += ns;
    totals->hold_buckets[bucket]++;
    if (ns > totals->longest_hold_ns) {
      totals->longest_hold_ns = ns;
      totals->longest_hold_start_ns = start_ns;
    }
  } else {
    thread->gil_waited = 1;
    totals->waits++;
    totals->wait_ns += ns;
    totals->wait_buckets[bucket]++;
    if (ns > totals->longest_wait_ns) totals->longest_wait_ns = ns;
  }
  end_update(thread);
}

void gw_gil_count_mark(gw_thread *thread, uint8_t payload_type, uint64_t payload) {
  begin_update(thread);
  slot_for(thread, gw_interp_of(payload_type, payload))->drop_requests++;
  end_update(thread);
}

int gw_gil_snapshot(gw_thread *thread, gw_gil_totals *out, uint32_t *count, uint32_t *seq) {
  for (int attempt = 0; attempt < 8; attempt++) {
    uint32_t before = gw_load_acquire(&thread->gil_seq);
    if (before & 1) continue;
    uint32_t n = gw_load_relaxed(&thread->gil_count);
    if (n > GW_GIL_SLOTS) n = GW_GIL_SLOTS;
    memcpy(out, (const void *)thread->gil, n * sizeof *out);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (gw_load_relaxed(&thread->gil_seq) != before) continue;
    *count = n;
    *seq = before;
    return 1;
  }
  return 0; /* the owner is counting right now: the next tick will have it */
}

void gw_gil_fold(gw_gil_totals *sum, uint32_t *sum_count, const gw_gil_totals *totals, uint32_t count) {
  for (uint32_t i = 0; i < count; i++) {
    const gw_gil_totals *t = &totals[i];
    gw_gil_totals *into = NULL;
    for (uint32_t j = 0; j < *sum_count && !into; j++)
      if (sum[j].interp == t->interp) into = &sum[j];
    if (!into) {
      into = *sum_count < GW_GIL_SLOTS ? &sum[(*sum_count)++] : &sum[GW_GIL_SLOTS - 1];
      if (into->holds == 0 && into->waits == 0 && into->drop_requests == 0) into->interp = t->interp;
    }
    into->holds += t->holds;
    into->contended_holds += t->contended_holds;
    into->hold_ns += t->hold_ns;
    into->waits += t->waits;
    into->wait_ns += t->wait_ns;
    into->drop_requests += t->drop_requests;
    if (t->longest_hold_ns > into->longest_hold_ns) {
      into->longest_hold_ns = t->longest_hold_ns;
      into->longest_hold_start_ns = t->longest_hold_start_ns;
    }
    if (t->longest_wait_ns > into->longest_wait_ns) into->longest_wait_ns = t->longest_wait_ns;
    for (unsigned b = 0; b <= GW_DURATION_BUCKETS; b++) {
      into->hold_buckets[b] += t->hold_buckets[b];
      into->wait_buckets[b] += t->wait_buckets[b];
    }
  }
}

/* ---- contention: the union of every thread's waits, per GIL ---- */

static inline void spin_lock(uint32_t *lock) {
  while (__atomic_exchange_n(lock, 1, __ATOMIC_ACQUIRE)) __builtin_ia32_pause();
}
static inline void spin_unlock(uint32_t *lock) { __atomic_store_n(lock, 0, __ATOMIC_RELEASE); }

static gw_contention *contention_of(int64_t interp) {
  for (int i = 0; i < GW_GIL_SLOTS; i++) {
    gw_contention *c = &gw_rt.contention[i];
    if (gw_load_acquire(&c->used) && c->interp == interp) return c;
  }
  spin_lock(&gw_rt.contention_claim);
  gw_contention *found = NULL;
  for (int i = 0; i < GW_GIL_SLOTS && !found; i++) {
    gw_contention *c = &gw_rt.contention[i];
    if (c->used && c->interp == interp) found = c;
  }
  for (int i = 0; i < GW_GIL_SLOTS && !found; i++) {
    gw_contention *c = &gw_rt.contention[i];
    if (!c->used) {
      c->interp = interp;
      gw_store_release(&c->used, 1);
      found = c;
    }
  }
  spin_unlock(&gw_rt.contention_claim);
  return found;
}

void gw_gil_wait_begins(uint8_t payload_type, uint64_t payload, uint64_t start_ns) {
  gw_contention *c = contention_of(gw_interp_of(payload_type, payload));
  if (!c) return;
  spin_lock(&c->lock);
  if (c->waiters++ == 0) c->since_ns = start_ns > c->last_end_ns ? start_ns : c->last_end_ns;
  spin_unlock(&c->lock);
}

void gw_gil_wait_ends(uint8_t payload_type, uint64_t payload, uint64_t end_ns) {
  gw_contention *c = contention_of(gw_interp_of(payload_type, payload));
  if (!c) return;
  spin_lock(&c->lock);
  if (c->waiters > 0 && --c->waiters == 0 && end_ns > c->since_ns) c->contended_ns += end_ns - c->since_ns;
  if (end_ns > c->last_end_ns) c->last_end_ns = end_ns;
  spin_unlock(&c->lock);
}

uint32_t gw_gil_contention_read(gw_gil_contention *out, uint32_t max, uint64_t now_ns) {
  uint32_t n = 0;
  for (int i = 0; i < GW_GIL_SLOTS && n < max; i++) {
    gw_contention *c = &gw_rt.contention[i];
    if (!gw_load_acquire(&c->used)) continue;
    spin_lock(&c->lock);
    uint64_t ongoing = c->waiters && now_ns > c->since_ns ? now_ns - c->since_ns : 0;
    out[n] = (gw_gil_contention){.interp = c->interp, .contended_ns = c->contended_ns + ongoing, .waiters = c->waiters};
    spin_unlock(&c->lock);
    n++;
  }
  return n;
}
