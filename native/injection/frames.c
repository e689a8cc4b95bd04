/*
 * The wire frames (native/protocol/gilwatch_protocol.h), one builder per frame kind, each
 * appending to a buffer the caller owns. Builders that send only what changed remember what
 * went out: the strings on this connection, the last GIL state.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sender.h"

/* ---- buffers ---- */

int gw_buffer_reserve(gw_buffer *buffer, size_t extra) {
  if (buffer->size + extra <= buffer->capacity) return 1;
  size_t capacity = buffer->capacity ? buffer->capacity : 65536;
  while (capacity < buffer->size + extra) capacity *= 2;
  char *data = realloc(buffer->data, capacity);
  if (!data) return 0;
  buffer->data = data;
  buffer->capacity = capacity;
  return 1;
}

/* Appends one frame: header, the fixed part, then up to two variable parts, padded. */
static int append_frame(gw_buffer *buffer, uint16_t type, const void *fixed, size_t fixed_size, const void *extra,
                        size_t extra_size, const void *extra2, size_t extra2_size) {
  uint32_t length = gw_padded((uint32_t)(fixed_size + extra_size + extra2_size));
  if (!gw_buffer_reserve(buffer, sizeof(gw_frame_header) + length)) return 0;
  gw_frame_header header = {.length = length, .type = type, .reserved = 0};
  char *out = buffer->data + buffer->size;
  memcpy(out, &header, sizeof header);
  out += sizeof header;
  memcpy(out, fixed, fixed_size);
  if (extra_size) memcpy(out + fixed_size, extra, extra_size);
  if (extra2_size) memcpy(out + fixed_size + extra_size, extra2, extra2_size);
  memset(out + fixed_size + extra_size + extra2_size, 0, length - fixed_size - extra_size - extra2_size);
  buffer->size += sizeof header + length;
  return 1;
}

static int bit_get(const uint8_t *bits, uint32_t i) { return bits[i >> 3] & (1u << (i & 7)); }
static void bit_set(uint8_t *bits, uint32_t i) { bits[i >> 3] |= (uint8_t)(1u << (i & 7)); }

/* ---- connection opening: AUTH, HELLO ---- */

void gw_frame_auth(gw_buffer *out, const char *token) {
  append_frame(out, GW_FRAME_AUTH, token, strlen(token), NULL, 0, NULL, 0);
}

static void read_cmdline(gw_buffer *out) {
  out->size = 0;
  int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  while (out->size < 65536 && gw_buffer_reserve(out, 4096)) {
    ssize_t n = read(fd, out->data + out->size, 4096);
    if (n <= 0) break;
    out->size += (size_t)n;
  }
  close(fd);
}

void gw_frame_hello(gw_buffer *out) {
  char executable[4096];
  ssize_t executable_length = readlink("/proc/self/exe", executable, sizeof executable);
  if (executable_length < 0) executable_length = 0;
  gw_buffer argv = {0};
  read_cmdline(&argv);
  size_t service_length = strlen(gw_rt.config.service);
  struct timespec mono, real;
  clock_gettime(CLOCK_MONOTONIC, &mono);
  clock_gettime(CLOCK_REALTIME, &real);
  gw_hello hello = {.magic = GW_PROTOCOL_MAGIC,
                    .version = GW_PROTOCOL_VERSION,
                    .record_size = sizeof(gw_record),
                    .pid = (uint32_t)gw_rt.pid,
                    .ppid = (uint32_t)getppid(),
                    .instance = gw_rt.instance,
                    .monotonic_ns = (uint64_t)mono.tv_sec * 1000000000u + (uint64_t)mono.tv_nsec,
                    .realtime_ns = (uint64_t)real.tv_sec * 1000000000u + (uint64_t)real.tv_nsec,
                    .service_length = (uint16_t)service_length,
                    .executable_length = (uint16_t)executable_length,
                    .argv_length = (uint32_t)argv.size};
  /* service and executable go in the first extra part, argv in the second */
  char head[256 + 4096];
  memcpy(head, gw_rt.config.service, service_length);
  memcpy(head + service_length, executable, (size_t)executable_length);
  append_frame(out, GW_FRAME_HELLO, &hello, sizeof hello, head, service_length + (size_t)executable_length, argv.data,
               argv.size);
  free(argv.data);
}

/* ---- definitions: STRING, THREAD ---- */

/* What the server has on this connection (cleared by gw_frames_forget_strings_sent). */
static struct strings_sent {
  uint8_t message[GW_MAX_STRINGS / 8];
  uint8_t domain[GW_MAX_DOMAINS / 8];
  uint32_t category_version[GW_MAX_CATEGORIES];
} sent;

void gw_frames_forget_strings_sent(void) {
  memset(sent.message, 0, sizeof sent.message);
  memset(sent.domain, 0, sizeof sent.domain);
  memset(sent.category_version, 0, sizeof sent.category_version);
}

void gw_frame_strings(gw_buffer *out) {
  uint32_t domains = gw_intern_count(&gw_rt.domains);
  for (uint32_t id = 1; id < domains; id++) {
    uint16_t length;
    const char *text;
    if (bit_get(sent.domain, id) || !(text = gw_intern_text(&gw_rt.domains, id, &length))) continue;
    gw_string string = {.id = id, .kind = GW_STRING_DOMAIN, .length = length};
    if (append_frame(out, GW_FRAME_STRING, &string, sizeof string, text, length, NULL, 0)) bit_set(sent.domain, id);
  }
  uint32_t messages = gw_intern_count(&gw_rt.messages);
  for (uint32_t id = 1; id < messages; id++) {
    uint16_t length;
    const char *text;
    if (bit_get(sent.message, id) || !(text = gw_intern_text(&gw_rt.messages, id, &length))) continue;
    gw_string string = {.id = id, .kind = GW_STRING_MESSAGE, .length = length};
    if (append_frame(out, GW_FRAME_STRING, &string, sizeof string, text, length, NULL, 0)) bit_set(sent.message, id);
  }
  for (uint32_t i = 0; i < GW_MAX_CATEGORIES; i++) {
    gw_category *category = &gw_rt.categories[i];
    if (gw_load_acquire(&category->state) != 2) continue;
    uint32_t version = gw_load_acquire(&category->version);
    if (version == sent.category_version[i]) continue;
    uint16_t length;
    const char *text = gw_intern_text(&gw_rt.messages, gw_load_acquire(&category->name), &length);
    if (!text) continue;
    gw_string string = {
        .id = category->category, .domain = category->domain, .kind = GW_STRING_CATEGORY, .length = length};
    if (append_frame(out, GW_FRAME_STRING, &string, sizeof string, text, length, NULL, 0))
      sent.category_version[i] = version;
  }
}

/* Copies a name written under its seqlock; 0 when none was given or it is being written. */
static int read_name(const gw_thread_name *slot, char *out, size_t size, uint32_t *version_out) {
  for (int attempt = 0; attempt < 4; attempt++) {
    uint32_t before = gw_load_acquire(&slot->version);
    if (before & 1) continue;
    size_t n = 0;
    for (; n + 1 < size && n < sizeof slot->name; n++) {
      out[n] = gw_load_relaxed(&slot->name[n]);
      if (!out[n]) break;
    }
    out[n < size ? n : size - 1] = 0;
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (gw_load_relaxed(&slot->version) == before) {
      *version_out = before;
      return before != 0;
    }
  }
  return 0;
}

/* A name from gilwatch_name_thread / nvtxNameOsThreadA: the thread's own, else the table's
 * (looked at only when another thread ever named one). */
static int override_name(gw_thread *thread, char *out, size_t size, uint32_t *version_out) {
  if (read_name(&thread->given_name, out, size, version_out)) return 1;
  if (!gw_load_acquire(&gw_rt.thread_names_used)) return 0;
  for (uint32_t i = 0; i < GW_MAX_THREAD_NAMES; i++) {
    gw_thread_name *slot = &gw_rt.thread_names[i];
    uint32_t owner = gw_load_acquire(&slot->tid);
    if (owner == 0) return 0;
    if (owner == (uint32_t)thread->tid) return read_name(slot, out, size, version_out);
  }
  return 0;
}

static void os_name(pid_t tid, char *out, size_t size) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/comm", (int)tid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return; /* keep the last known name */
  ssize_t n = read(fd, out, size - 1);
  close(fd);
  if (n <= 0) return;
  if (out[n - 1] == '\n') n--;
  out[n] = 0;
}

/* The thread's current name: given (gilwatch_name_thread, nvtxNameOsThreadA), else the OS
 * one, re-read every GW_NAME_REFRESH_NS. Copied into its slot of the totals region, so that a
 * server that meets the thread only there (after a restart, or after the process died) can
 * still call it by its name. Runs every tick, connected or not. Returns 1 when it changed. */
int gw_thread_name_refresh(gw_thread *thread, uint64_t now) {
  char name[sizeof thread->sender.name];
  uint32_t version = 0;
  int changed = 0;
  if (override_name(thread, name, sizeof name, &version)) {
    changed = version != thread->sender.name_version;
  } else if (!thread->sender.name[0] || now - thread->sender.name_checked_ns >= GW_NAME_REFRESH_NS) {
    gw_copy_string(name, sizeof name, thread->sender.name[0] ? thread->sender.name : thread->start_name);
    /* An exited thread has no /proc entry left: its last name stands (a thread per request
     * has usually ended by the first tick that sees it). */
    if (!gw_load_acquire(&thread->exited)) os_name(thread->tid, name, sizeof name);
    thread->sender.name_checked_ns = now;
    changed = strcmp(name, thread->sender.name) != 0;
  }
  if (!changed) return 0;
  gw_copy_string(thread->sender.name, sizeof thread->sender.name, name);
  thread->sender.name_version = version;
  gw_shared_slot *slot = thread->slot;
  if (slot) {
    gw_store_relaxed(&slot->name_seq, slot->name_seq + 1);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    gw_copy_string(slot->name, sizeof slot->name, thread->sender.name);
    gw_store_release(&slot->name_seq, slot->name_seq + 1);
  }
  return 1;
}

void gw_frame_thread_info(gw_buffer *out, gw_thread *thread, uint64_t now) {
  int changed = gw_thread_name_refresh(thread, now);
  if (thread->sender.info_sent && !changed) return;
  uint16_t length = (uint16_t)strlen(thread->sender.name);
  gw_thread_info info = {.thread = thread->id, .tid = (uint32_t)thread->tid, .name_length = length};
  if (append_frame(out, GW_FRAME_THREAD, &info, sizeof info, thread->sender.name, length, NULL, 0))
    thread->sender.info_sent = 1;
}

/* ---- RECORDS ---- */

gw_record *gw_frame_records_slots(gw_buffer *out, uint32_t thread, uint32_t count) {
  gw_records_header header = {.thread = thread, .count = count};
  uint32_t body = (uint32_t)(sizeof header + count * sizeof(gw_record));
  if (!gw_buffer_reserve(out, sizeof(gw_frame_header) + body)) return NULL;
  gw_frame_header frame = {.length = body, .type = GW_FRAME_RECORDS};
  char *at = out->data + out->size;
  memcpy(at, &frame, sizeof frame);
  memcpy(at + sizeof frame, &header, sizeof header);
  out->size += sizeof frame + body;
  return (gw_record *)(at + sizeof frame + sizeof header);
}

int gw_frame_records(gw_buffer *out, uint32_t thread, const gw_record *records, uint32_t count) {
  gw_records_header header = {.thread = thread, .count = count};
  return append_frame(out, GW_FRAME_RECORDS, &header, sizeof header, records, count * sizeof records[0], NULL, 0);
}

/* ---- exact GIL totals ---- */

void gw_frame_gil_totals(gw_buffer *out, uint32_t thread, const gw_gil_totals *totals, uint32_t count) {
  gw_gil_totals_header header = {.thread = thread, .count = count};
  append_frame(out, GW_FRAME_GIL_TOTALS, &header, sizeof header, totals, count * sizeof *totals, NULL, 0);
}

/* THREAD for a slot whose thread the sender no longer has (it exited and was reaped before
 * this connection): its id, tid and the name last sent, from the slot. */
void gw_frame_slot_info(gw_buffer *out, const gw_shared_slot *slot) {
  char name[sizeof slot->name];
  for (int attempt = 0; attempt < 4; attempt++) {
    uint32_t seq = gw_load_acquire(&slot->name_seq);
    memcpy(name, slot->name, sizeof name);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (!(seq & 1) && gw_load_relaxed(&slot->name_seq) == seq) break;
    name[0] = 0;
  }
  name[sizeof name - 1] = 0;
  uint16_t length = (uint16_t)strlen(name);
  gw_thread_info info = {
      .thread = gw_load_relaxed(&slot->thread), .tid = gw_load_relaxed(&slot->tid), .name_length = length};
  append_frame(out, GW_FRAME_THREAD, &info, sizeof info, name, length, NULL, 0);
}

void gw_frame_thread_folded(gw_buffer *out, uint32_t thread) {
  gw_thread_folded folded = {.thread = thread};
  append_frame(out, GW_FRAME_THREAD_FOLDED, &folded, sizeof folded, NULL, 0, NULL, 0);
}

/* ---- GIL_STATE ---- */

/* The thread's open GIL range (its innermost hold or wait), read under the stack's seqlock. */
static int open_gil_range(gw_thread *thread, gw_gil_open *out) {
  uint32_t stacks = gw_load_acquire(&thread->stack_count);
  for (uint32_t i = 0; i < stacks; i++) {
    gw_stack *stack = &thread->stacks[i];
    if (stack->domain != gw_rt.gil_domain) continue;
    for (int attempt = 0; attempt < 4; attempt++) {
      gw_stack_entry top;
      uint32_t depth;
      int copied = gw_stack_read(stack, 1, &top, 1, &depth);
      if (copied < 0) continue;
      if (copied == 0 || depth > GW_STACK_DEPTH) return 0; /* nothing open, or its innermost is not kept */
      if (top.message != gw_rt.gil_holding && top.message != gw_rt.gil_waiting) return 0;
      *out = (gw_gil_open){.thread = thread->id,
                           .kind = top.message == gw_rt.gil_holding ? GW_OPEN_HOLD : GW_OPEN_WAIT,
                           .interp = gw_interp_of(top.payload_type, top.payload),
                           .start_ns = top.start_ns};
      return 1;
    }
    return 0;
  }
  return 0;
}

/* The GIL right now (who holds it since when, who waits, contended time), sent when it
 * changed, or with every STATUS (`force`). Returns whether a hold is open: then the process is
 * not idle, whatever else it does (a stuck holder makes no events). */
int gw_frame_gil_state(gw_buffer *out, uint64_t now, int force) {
  if (!gw_load_relaxed(&gw_rt.gil_domain)) return 0;
  static gw_gil_open open[GW_STATE_OPEN], sent_open[GW_STATE_OPEN];
  static gw_gil_contention sent_gils[GW_STATE_GILS];
  static uint32_t sent_open_count, sent_gil_count;
  gw_gil_contention gils[GW_STATE_GILS];
  gw_gil_state_header header = {.now_ns = now};
  header.gils = gw_gil_contention_read(gils, GW_STATE_GILS, now);
  int hold_open = 0;
  for (gw_thread *thread = gw_load_acquire(&gw_rt.threads); thread; thread = thread->next) {
    gw_gil_open one;
    if (!thread->sender.info_sent || gw_load_acquire(&thread->exited) || !open_gil_range(thread, &one)) continue;
    hold_open |= one.kind == GW_OPEN_HOLD;
    if (header.open < GW_STATE_OPEN)
      open[header.open++] = one;
    else
      header.open_omitted++;
  }
  /* Contended time grows while someone waits: compare it only when nobody does. */
  int changed = header.gils != sent_gil_count || header.open != sent_open_count ||
                memcmp(open, sent_open, header.open * sizeof open[0]) != 0;
  for (uint32_t i = 0; i < header.gils && !changed; i++)
    changed = gils[i].waiters != sent_gils[i].waiters || gils[i].interp != sent_gils[i].interp ||
              (gils[i].waiters == 0 && gils[i].contended_ns != sent_gils[i].contended_ns);
  if (changed || force) {
    append_frame(out, GW_FRAME_GIL_STATE, &header, sizeof header, gils, header.gils * sizeof gils[0], open,
                 header.open * sizeof open[0]);
    memcpy(sent_open, open, header.open * sizeof open[0]);
    memcpy(sent_gils, gils, header.gils * sizeof gils[0]);
    sent_open_count = header.open;
    sent_gil_count = header.gils;
  }
  return hold_open || header.open > 0;
}

/* ---- STATUS, HOLD_CAUSE, THREAD_EXIT ---- */

void gw_frame_status(gw_buffer *out, uint64_t dropped, uint64_t unmatched, uint32_t thread_count, uint32_t flags) {
  gw_status status = {.sent_ns = gw_now_ns(),
                      .dropped_events = dropped,
                      .unmatched_pops = unmatched,
                      .threads = thread_count,
                      .flags = flags};
  append_frame(out, GW_FRAME_STATUS, &status, sizeof status, NULL, 0, NULL, 0);
}

void gw_frame_hold_cause(gw_buffer *out, const gw_hold_cause *cause) {
  append_frame(out, GW_FRAME_HOLD_CAUSE, cause, sizeof *cause, NULL, 0, NULL, 0);
}

void gw_frame_thread_exit(gw_buffer *out, uint32_t thread, uint64_t now) {
  gw_thread_exit message = {.thread = thread, .time_ns = now};
  append_frame(out, GW_FRAME_THREAD_EXIT, &message, sizeof message, NULL, 0, NULL, 0);
}
