/*
 * Exact GIL totals, counted by each thread in memory only it writes: its slot of the shared
 * totals region (shared_totals.c, layout in the protocol header).
 *
 * The ranges a thread records are detail: its ring may overflow in a burst (an uncontended
 * thread re-takes the GIL every microsecond) and the connection may be down. The counts
 * users alert on must not depend on either, so every "Holding GIL" / "Waiting for GIL" pop
 * and "GIL drop request" mark also updates the thread's cumulative totals here; the server
 * reads them from the region (or the sender ships copies, GW_FRAME_GIL_TOTALS). Writers are
 * the owning thread only: plain stores between two increments of the slot's sequence number
 * (a seqlock); readers copy and retry when the number was odd or changed. On x86-64 stores
 * are not reordered with other stores, so the release fences below cost nothing but the
 * compiler's freedom. A thread that found no slot (more live threads than slots) counts into
 * the region's retired sum under its lock: rare, and exact all the same.
 */
#include <string.h>

#include "runtime.h"

static inline void spin_lock(uint32_t *lock) {
  while (__atomic_exchange_n(lock, 1, __ATOMIC_ACQUIRE)) __builtin_ia32_pause();
}
static inline void spin_unlock(uint32_t *lock) { __atomic_store_n(lock, 0, __ATOMIC_RELEASE); }

/* The entry for `interp` among `*count` totals; a thread that used more GILs than entries
 * folds the rest into the last one (its interpreter id is the first one that entry saw). */
static inline gw_gil_totals *entry_for(gw_gil_totals *gil, uint32_t *count, int64_t interp) {
  uint32_t n = *count;
  for (uint32_t i = 0; i < n; i++)
    if (gil[i].interp == interp) return &gil[i];
  if (GW_UNLIKELY(n == GW_GIL_SLOTS)) return &gil[GW_GIL_SLOTS - 1];
  gil[n].interp = interp;
  gw_store_release(count, n + 1);
  return &gil[n];
}

static inline void seq_begin(uint32_t *seq) {
  gw_store_relaxed(seq, *seq + 1);
  __atomic_thread_fence(__ATOMIC_RELEASE);
}

static inline void seq_end(uint32_t *seq) { gw_store_release(seq, *seq + 1); }

/* Where the calling thread counts: its slot under its seqlock, or (no slot) the retired sum
 * under the region's lock. end_count() closes what begin_count() opened. */
static inline gw_gil_totals *begin_count(gw_thread *thread, int64_t interp) {
  gw_shared_slot *slot = thread->slot;
  if (GW_LIKELY(slot != NULL)) {
    seq_begin(&slot->seq);
    return entry_for(slot->gil, &slot->count, interp);
  }
  gw_shared_header *region = gw_rt.region;
  spin_lock(&region->lock);
  seq_begin(&region->retired_seq);
  return entry_for(region->retired, &region->retired_count, interp);
}

static inline void end_count(gw_thread *thread) {
  gw_shared_slot *slot = thread->slot;
  if (GW_LIKELY(slot != NULL)) {
    seq_end(&slot->seq);
    return;
  }
  seq_end(&gw_rt.region->retired_seq);
  spin_unlock(&gw_rt.region->lock);
}

void gw_gil_count_range(gw_thread *thread, uint32_t message, uint8_t payload_type, uint64_t payload, uint64_t start_ns,
                        uint64_t end_ns) {
  uint64_t ns = end_ns > start_ns ? end_ns - start_ns : 0;
  unsigned bucket = gw_duration_bucket(ns);
  gw_gil_totals *totals = begin_count(thread, gw_interp_of(payload_type, payload));
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
  end_count(thread);
}

void gw_gil_count_mark(gw_thread *thread, uint8_t payload_type, uint64_t payload) {
  begin_count(thread, gw_interp_of(payload_type, payload))->drop_requests++;
  end_count(thread);
}

int gw_gil_snapshot(const gw_shared_slot *slot, gw_gil_totals *out, uint32_t *count, uint32_t *seq) {
  for (int attempt = 0; attempt < 8; attempt++) {
    uint32_t before = gw_load_acquire(&slot->seq);
    if (before & 1) continue;
    uint32_t n = gw_load_relaxed(&slot->count);
    if (n > GW_GIL_SLOTS) n = GW_GIL_SLOTS;
    memcpy(out, (const void *)slot->gil, n * sizeof *out);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (gw_load_relaxed(&slot->seq) != before) continue;
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

static gw_shared_contention *contention_of(int64_t interp) {
  gw_shared_contention *all = gw_rt.region->contention;
  for (int i = 0; i < GW_GIL_SLOTS; i++) {
    gw_shared_contention *c = &all[i];
    if (gw_load_acquire(&c->used) && c->interp == interp) return c;
  }
  spin_lock(&gw_rt.region->lock);
  gw_shared_contention *found = NULL;
  for (int i = 0; i < GW_GIL_SLOTS && !found; i++) {
    gw_shared_contention *c = &all[i];
    if (c->used && c->interp == interp) found = c;
  }
  for (int i = 0; i < GW_GIL_SLOTS && !found; i++) {
    gw_shared_contention *c = &all[i];
    if (!c->used) {
      c->interp = interp;
      gw_store_release(&c->used, 1);
      found = c;
    }
  }
  spin_unlock(&gw_rt.region->lock);
  return found;
}

void gw_gil_wait_begins(uint8_t payload_type, uint64_t payload, uint64_t start_ns) {
  gw_shared_contention *c = contention_of(gw_interp_of(payload_type, payload));
  if (!c) return;
  spin_lock(&c->lock);
  if (c->waiters++ == 0) c->since_ns = start_ns > c->last_end_ns ? start_ns : c->last_end_ns;
  spin_unlock(&c->lock);
}

void gw_gil_wait_ends(uint8_t payload_type, uint64_t payload, uint64_t end_ns) {
  gw_shared_contention *c = contention_of(gw_interp_of(payload_type, payload));
  if (!c) return;
  spin_lock(&c->lock);
  if (c->waiters > 0 && --c->waiters == 0 && end_ns > c->since_ns) c->contended_ns += end_ns - c->since_ns;
  if (end_ns > c->last_end_ns) c->last_end_ns = end_ns;
  spin_unlock(&c->lock);
}

uint32_t gw_gil_contention_read(gw_gil_contention *out, uint32_t max, uint64_t now_ns) {
  uint32_t n = 0;
  for (int i = 0; i < GW_GIL_SLOTS && n < max; i++) {
    gw_shared_contention *c = &gw_rt.region->contention[i];
    if (!gw_load_acquire(&c->used)) continue;
    spin_lock(&c->lock);
    uint64_t ongoing = c->waiters && now_ns > c->since_ns ? now_ns - c->since_ns : 0;
    out[n] = (gw_gil_contention){.interp = c->interp, .contended_ns = c->contended_ns + ongoing, .waiters = c->waiters};
    spin_unlock(&c->lock);
    n++;
  }
  return n;
}
