/*
 * The NVTX callbacks: the hot path.
 *
 * Push keeps (start, message, payload) on the thread's stack for the domain; pop turns
 * it into one RANGE record in the thread's ring. No lock, no allocation after the
 * thread's first event, no syscall but clock_gettime (vDSO); the few exceptions, all off
 * the common path, are listed in runtime.h.
 */
#include <stddef.h>
#include <string.h>
#include <wchar.h>

#include "../protocol/gil_direct.h"
#include "../protocol/gil_names.h"
#include "nvtx_api.h"
#include "runtime.h"

typedef struct event_attributes {
  uint32_t message;
  uint32_t category;
  uint8_t payload_type;
  uint64_t payload;
} event_attributes;

static inline uint32_t domain_id(nvtxDomainHandle_t domain) {
  uintptr_t id = (uintptr_t)domain;
  return id < GW_MAX_DOMAINS ? (uint32_t)id : GW_DEFAULT_DOMAIN;
}

static inline int domain_enabled(uint32_t domain) { return gw_rt.domain_enabled[domain]; }

static uint32_t intern_ascii(const char *text) {
  return text ? gw_intern(&gw_rt.messages, text, strlen(text)) : GW_NO_MESSAGE;
}

/* Wide messages are rare; convert to UTF-8 once per call on the stack. */
static uint32_t intern_unicode(const wchar_t *text) {
  if (!text) return GW_NO_MESSAGE;
  char utf8[256];
  size_t n = 0;
  for (; *text && n + 4 < sizeof utf8; text++) {
    uint32_t c = (uint32_t)*text;
    if (c < 0x80) {
      utf8[n++] = (char)c;
    } else if (c < 0x800) {
      utf8[n++] = (char)(0xC0 | (c >> 6));
      utf8[n++] = (char)(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      utf8[n++] = (char)(0xE0 | (c >> 12));
      utf8[n++] = (char)(0x80 | ((c >> 6) & 0x3F));
      utf8[n++] = (char)(0x80 | (c & 0x3F));
    } else {
      utf8[n++] = (char)(0xF0 | ((c >> 18) & 0x07));
      utf8[n++] = (char)(0x80 | ((c >> 12) & 0x3F));
      utf8[n++] = (char)(0x80 | ((c >> 6) & 0x3F));
      utf8[n++] = (char)(0x80 | (c & 0x3F));
    }
  }
  return gw_intern(&gw_rt.messages, utf8, n);
}

#define HAS_FIELD(attr, field) ((attr)->size >= offsetof(nvtxEventAttributes_t, field) + sizeof((attr)->field))

static inline void read_attributes(const nvtxEventAttributes_t *attr, event_attributes *out) {
  out->message = GW_NO_MESSAGE;
  out->category = 0;
  out->payload_type = GW_PAYLOAD_NONE;
  out->payload = 0;
  if (!attr) return;
  if (HAS_FIELD(attr, category)) out->category = attr->category;
  if (HAS_FIELD(attr, payload)) {
    switch (attr->payloadType) {
      case NVTX_PAYLOAD_TYPE_UNSIGNED_INT64:
        out->payload_type = GW_PAYLOAD_UINT64;
        out->payload = attr->payload.ullValue;
        break;
      case NVTX_PAYLOAD_TYPE_INT64:
        out->payload_type = GW_PAYLOAD_INT64;
        out->payload = (uint64_t)attr->payload.llValue;
        break;
      case NVTX_PAYLOAD_TYPE_DOUBLE:
        out->payload_type = GW_PAYLOAD_DOUBLE;
        memcpy(&out->payload, &attr->payload.dValue, sizeof out->payload);
        break;
      case NVTX_PAYLOAD_TYPE_UNSIGNED_INT32:
        out->payload_type = GW_PAYLOAD_UINT64;
        out->payload = attr->payload.uiValue;
        break;
      case NVTX_PAYLOAD_TYPE_INT32:
        out->payload_type = GW_PAYLOAD_INT64;
        out->payload = (uint64_t)(int64_t)attr->payload.iValue;
        break;
      case NVTX_PAYLOAD_TYPE_FLOAT: {
        double value = attr->payload.fValue;
        out->payload_type = GW_PAYLOAD_DOUBLE;
        memcpy(&out->payload, &value, sizeof out->payload);
        break;
      }
      default: break;
    }
  }
  if (HAS_FIELD(attr, message)) {
    switch (attr->messageType) {
      case NVTX_MESSAGE_TYPE_REGISTERED: {
        uintptr_t id = (uintptr_t)attr->message.registered;
        out->message = id < GW_MAX_STRINGS ? (uint32_t)id : GW_NO_MESSAGE;
        break;
      }
      case NVTX_MESSAGE_TYPE_ASCII: out->message = intern_ascii(attr->message.ascii); break;
      case NVTX_MESSAGE_TYPE_UNICODE: out->message = intern_unicode(attr->message.unicode); break;
      default: break;
    }
  }
}

static inline void count_drop(gw_thread *thread) { gw_store_relaxed(&thread->dropped, thread->dropped + 1); }

static int push_range(uint32_t domain, const event_attributes *attrs) {
  gw_thread *thread = gw_current_thread();
  if (GW_UNLIKELY(!thread)) return -1;
  gw_stack *stack = gw_stack_for(thread, domain);
  if (GW_UNLIKELY(!stack)) {
    count_drop(thread);
    return -1;
  }
  uint32_t depth = stack->depth;
  if (GW_LIKELY(depth < GW_STACK_DEPTH)) {
    gw_stack_entry *entry = &stack->entries[depth];
    uint32_t seq = stack->seq;
    gw_store_relaxed(&stack->seq, seq + 1); /* odd: entry being written */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    entry->message = attrs->message;
    entry->category = attrs->category;
    entry->payload_type = attrs->payload_type;
    entry->payload = attrs->payload;
    entry->start_ns = gw_now_ns(); /* last: the range measures the caller, not us */
    gw_store_release(&stack->depth, depth + 1);
    gw_store_release(&stack->seq, seq + 2);
    if (GW_UNLIKELY(attrs->message == gw_rt.gil_waiting) && domain == gw_rt.gil_domain)
      gw_gil_wait_begins(attrs->payload_type, attrs->payload, entry->start_ns);
  } else {
    gw_store_release(&stack->depth, depth + 1);
    count_drop(thread);
  }
  return (int)depth;
}

static int pop_range(uint32_t domain) {
  uint64_t end_ns = gw_now_ns(); /* first: the range measures the caller, not us */
  gw_thread *thread = gw_current_thread();
  if (GW_UNLIKELY(!thread)) return -1;
  gw_stack *stack = gw_stack_for(thread, domain);
  if (GW_UNLIKELY(!stack || stack->depth == 0)) {
    gw_store_relaxed(&thread->unmatched_pops, thread->unmatched_pops + 1);
    return -1;
  }
  uint32_t depth = stack->depth - 1;
  gw_store_release(&stack->depth, depth);
  if (GW_UNLIKELY(depth >= GW_STACK_DEPTH)) return (int)depth; /* its push was counted as dropped */
  const gw_stack_entry *entry = &stack->entries[depth];
  if (GW_UNLIKELY(end_ns < entry->start_ns)) end_ns = entry->start_ns; /* read on another core's counter */
  int gil = domain == gw_rt.gil_domain && (entry->message == gw_rt.gil_holding || entry->message == gw_rt.gil_waiting);
  if (gil) {
    gw_gil_count_range(thread, entry->message, entry->payload_type, entry->payload, entry->start_ns, end_ns);
    if (entry->message == gw_rt.gil_waiting) gw_gil_wait_ends(entry->payload_type, entry->payload, end_ns);
  }
  gw_record *record = gw_ring_claim(thread);
  int set_aside = 0;
  if (GW_UNLIKELY(!record) && gw_keep_always(entry->start_ns, end_ns)) {
    record = gw_long_hold_claim(thread);
    set_aside = record != NULL;
  }
  if (GW_LIKELY(record != NULL)) {
    record->kind = GW_RECORD_RANGE;
    record->payload_type = entry->payload_type;
    record->depth = (uint8_t)depth;
    record->flags = 0;
    record->message = entry->message;
    record->domain = domain;
    record->aux = entry->category;
    record->start_ns = entry->start_ns;
    record->end_ns = end_ns;
    record->payload = entry->payload;
    if (GW_LIKELY(!set_aside))
      gw_ring_publish(thread);
    else
      gw_store_release(&thread->long_head, thread->long_head + 1);
  }
  if (GW_UNLIKELY(gil && entry->message == gw_rt.gil_holding && end_ns - entry->start_ns >= gw_rt.config.long_hold_ns))
    gw_note_long_release(thread, entry->start_ns, gw_interp_of(entry->payload_type, entry->payload));
  return (int)depth;
}

/* One-record events: marks and start/end ranges (whose ends may come on other threads). */
static void emit_event(uint8_t kind, uint32_t domain, const event_attributes *attrs, uint32_t aux, uint64_t start_ns,
                       uint64_t end_ns) {
  gw_thread *thread = gw_current_thread();
  if (GW_UNLIKELY(!thread)) return;
  gw_record *record = gw_ring_claim(thread);
  if (GW_UNLIKELY(!record)) return;
  record->kind = kind;
  record->payload_type = attrs ? attrs->payload_type : GW_PAYLOAD_NONE;
  record->depth = 0;
  record->flags = 0;
  record->message = attrs ? attrs->message : GW_NO_MESSAGE;
  record->domain = domain;
  record->aux = aux;
  record->start_ns = start_ns;
  record->end_ns = end_ns;
  record->payload = attrs ? attrs->payload : 0;
  gw_ring_publish(thread);
}

static nvtxRangeId_t start_range(uint32_t domain, const event_attributes *attrs) {
  nvtxRangeId_t id = __atomic_add_fetch(&gw_rt.next_range_id, 1, __ATOMIC_RELAXED);
  emit_event(GW_RECORD_START, domain, attrs, (uint32_t)id, gw_now_ns(), 0);
  return id;
}

static void end_range(uint32_t domain, nvtxRangeId_t id) {
  emit_event(GW_RECORD_END, domain, NULL, (uint32_t)id, 0, gw_now_ns());
}

static void mark(uint32_t domain, const event_attributes *attrs) {
  if (domain == gw_rt.gil_domain && attrs->message == gw_rt.gil_drop_request) {
    gw_thread *thread = gw_current_thread();
    if (thread) gw_gil_count_mark(thread, attrs->payload_type, attrs->payload);
  }
  emit_event(GW_RECORD_MARK, domain, attrs, attrs->category, gw_now_ns(), 0);
}

/* ---- CORE ---- */

void gw_nvtx_MarkEx(const nvtxEventAttributes_t *attr) {
  if (!domain_enabled(GW_DEFAULT_DOMAIN)) return;
  event_attributes attrs;
  read_attributes(attr, &attrs);
  mark(GW_DEFAULT_DOMAIN, &attrs);
}

void gw_nvtx_MarkA(const char *message) {
  if (!domain_enabled(GW_DEFAULT_DOMAIN)) return;
  event_attributes attrs = {.message = intern_ascii(message)};
  mark(GW_DEFAULT_DOMAIN, &attrs);
}

nvtxRangeId_t gw_nvtx_RangeStartEx(const nvtxEventAttributes_t *attr) {
  if (!domain_enabled(GW_DEFAULT_DOMAIN)) return 0;
  event_attributes attrs;
  read_attributes(attr, &attrs);
  return start_range(GW_DEFAULT_DOMAIN, &attrs);
}

nvtxRangeId_t gw_nvtx_RangeStartA(const char *message) {
  if (!domain_enabled(GW_DEFAULT_DOMAIN)) return 0;
  event_attributes attrs = {.message = intern_ascii(message)};
  return start_range(GW_DEFAULT_DOMAIN, &attrs);
}

void gw_nvtx_RangeEnd(nvtxRangeId_t id) {
  if (domain_enabled(GW_DEFAULT_DOMAIN) && id) end_range(GW_DEFAULT_DOMAIN, id);
}

int gw_nvtx_RangePushEx(const nvtxEventAttributes_t *attr) {
  if (!domain_enabled(GW_DEFAULT_DOMAIN)) return 0;
  event_attributes attrs;
  read_attributes(attr, &attrs);
  return push_range(GW_DEFAULT_DOMAIN, &attrs);
}

int gw_nvtx_RangePushA(const char *message) {
  if (!domain_enabled(GW_DEFAULT_DOMAIN)) return 0;
  event_attributes attrs = {.message = intern_ascii(message)};
  return push_range(GW_DEFAULT_DOMAIN, &attrs);
}

int gw_nvtx_RangePop(void) { return domain_enabled(GW_DEFAULT_DOMAIN) ? pop_range(GW_DEFAULT_DOMAIN) : 0; }

/* ---- CORE2 ---- */

void gw_nvtx_DomainMarkEx(nvtxDomainHandle_t domain, const nvtxEventAttributes_t *attr) {
  uint32_t id = domain_id(domain);
  if (!domain_enabled(id)) return;
  event_attributes attrs;
  read_attributes(attr, &attrs);
  mark(id, &attrs);
}

nvtxRangeId_t gw_nvtx_DomainRangeStartEx(nvtxDomainHandle_t domain, const nvtxEventAttributes_t *attr) {
  uint32_t id = domain_id(domain);
  if (!domain_enabled(id)) return 0;
  event_attributes attrs;
  read_attributes(attr, &attrs);
  return start_range(id, &attrs);
}

void gw_nvtx_DomainRangeEnd(nvtxDomainHandle_t domain, nvtxRangeId_t range) {
  uint32_t id = domain_id(domain);
  if (domain_enabled(id) && range) end_range(id, range);
}

int gw_nvtx_DomainRangePushEx(nvtxDomainHandle_t domain, const nvtxEventAttributes_t *attr) {
  uint32_t id = domain_id(domain);
  if (!domain_enabled(id)) return 0;
  event_attributes attrs;
  read_attributes(attr, &attrs);
  return push_range(id, &attrs);
}

int gw_nvtx_DomainRangePop(nvtxDomainHandle_t domain) {
  uint32_t id = domain_id(domain);
  return domain_enabled(id) ? pop_range(id) : 0;
}

nvtxDomainHandle_t gw_nvtx_DomainCreateA(const char *name) {
  if (!name) name = "(unnamed)";
  uint32_t id = gw_intern(&gw_rt.domains, name, strlen(name));
  /* Every creator stores the same value, so the handle is usable as soon as it returns. */
  gw_store_relaxed(&gw_rt.domain_enabled[id], (uint8_t)gw_config_domain_enabled(&gw_rt.config, name));
  if (strcmp(name, GW_GIL_DOMAIN) == 0) gw_store_relaxed(&gw_rt.gil_domain, id);
  return (nvtxDomainHandle_t)(uintptr_t)id; /* never NULL: ids start at 1 */
}

void gw_nvtx_DomainDestroy(nvtxDomainHandle_t domain) {
  (void)domain; /* ids stay valid: ranges already recorded still refer to them */
}

nvtxStringHandle_t gw_nvtx_DomainRegisterStringA(nvtxDomainHandle_t domain, const char *text) {
  (void)domain; /* messages are interned process-wide; the record carries the domain */
  uint32_t id = intern_ascii(text);
  return (nvtxStringHandle_t)(uintptr_t)(id ? id : gw_rt.messages.overflow_id);
}

static void name_category(uint32_t domain, uint32_t category, const char *name) {
  if (!name) return;
  uint32_t name_id = intern_ascii(name);
  for (uint32_t i = 0; i < GW_MAX_CATEGORIES; i++) {
    gw_category *slot = &gw_rt.categories[i];
    uint32_t state = gw_load_acquire(&slot->state);
    if (state == 0) {
      if (!__atomic_compare_exchange_n(&slot->state, &state, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        i--; /* lost the race for this slot: look at it again */
        continue;
      }
      slot->domain = domain;
      slot->category = category;
      slot->name = name_id;
      gw_store_release(&slot->version, 1);
      gw_store_release(&slot->state, 2);
      return;
    }
    if (state == 2 && slot->domain == domain && slot->category == category) {
      gw_store_release(&slot->name, name_id);
      __atomic_fetch_add(&slot->version, 1, __ATOMIC_RELEASE);
      return;
    }
  }
}

void gw_nvtx_DomainNameCategoryA(nvtxDomainHandle_t domain, uint32_t category, const char *name) {
  name_category(domain_id(domain), category, name);
}

void gw_nvtx_NameCategoryA(uint32_t category, const char *name) { name_category(GW_DEFAULT_DOMAIN, category, name); }

/* A name under its seqlock (version odd while writing); read by the sender. */
static void write_name(gw_thread_name *slot, const char *name) {
  uint32_t version = gw_load_relaxed(&slot->version) | 1u;
  gw_store_relaxed(&slot->version, version);
  __atomic_thread_fence(__ATOMIC_RELEASE);
  size_t length = strnlen(name, sizeof slot->name - 1);
  for (size_t i = 0; i < length; i++) gw_store_relaxed(&slot->name[i], name[i]);
  gw_store_relaxed(&slot->name[length], 0);
  gw_store_release(&slot->version, version + 1);
}

/* A thread naming itself (the Python hook, at thread start) writes into its own state, so a
 * service that starts a thread per request never fills a table. A name given for another
 * thread goes to the process-wide table, tid -> name, newest wins. */
void gw_name_thread(uint32_t tid, const char *name) {
  if (!tid || !name) return;
  gw_thread *self = gw_tls_thread;
  if (self && (uint32_t)self->tid == tid) {
    write_name(&self->given_name, name);
    return;
  }
  gw_thread_name *free_slot = NULL;
  for (uint32_t i = 0; i < GW_MAX_THREAD_NAMES; i++) {
    gw_thread_name *slot = &gw_rt.thread_names[i];
    uint32_t owner = gw_load_acquire(&slot->tid);
    if (owner == tid) {
      free_slot = slot;
      break;
    }
    if (owner == 0) {
      uint32_t expected = 0;
      if (__atomic_compare_exchange_n(&slot->tid, &expected, tid, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        __atomic_fetch_add(&gw_rt.thread_names_used, 1, __ATOMIC_RELEASE);
        free_slot = slot;
        break;
      }
      if (expected == tid) {
        free_slot = slot;
        break;
      }
    }
  }
  if (free_slot) write_name(free_slot, name);
}

void gw_nvtx_NameOsThreadA(uint32_t tid, const char *name) { gw_name_thread(tid, name); }

/* ---- the probe's direct calls (gil_direct.h) ---- */

static inline event_attributes gil_attributes(uint32_t message, int64_t interp) {
  event_attributes attrs = {.message = message};
  if (interp >= 0) {
    attrs.payload_type = GW_PAYLOAD_INT64;
    attrs.payload = (uint64_t)interp;
  }
  return attrs;
}

static void direct_hold_begins(int64_t interp) {
  uint32_t domain = gw_rt.gil_domain;
  if (!domain_enabled(domain)) return;
  event_attributes attrs = gil_attributes(gw_rt.gil_holding, interp);
  push_range(domain, &attrs);
}

static void direct_wait_begins(int64_t interp) {
  uint32_t domain = gw_rt.gil_domain;
  if (!domain_enabled(domain)) return;
  event_attributes attrs = gil_attributes(gw_rt.gil_waiting, interp);
  push_range(domain, &attrs);
}

static void direct_range_ends(void) {
  uint32_t domain = gw_rt.gil_domain;
  if (domain_enabled(domain)) pop_range(domain);
}

static void direct_drop_requested(int64_t interp) {
  uint32_t domain = gw_rt.gil_domain;
  if (!domain_enabled(domain)) return;
  event_attributes attrs = gil_attributes(gw_rt.gil_drop_request, interp);
  mark(domain, &attrs);
}

static const gw_gil_direct direct_calls = {GW_GIL_DIRECT_VERSION, direct_hold_begins, direct_wait_begins,
                                           direct_range_ends, direct_drop_requested};

const gw_gil_direct *gw_gil_direct_calls(void) { return gw_load_relaxed(&gw_rt.gil_domain) ? &direct_calls : NULL; }
