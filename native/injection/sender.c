/*
 * The sender thread: every GW_TICK_MS it reports long-open ranges, drains every thread's
 * ring, and writes frames to the server without ever blocking a producer.
 *
 * Memory is bounded by the rings plus one send buffer (GILWATCH_SEND_BUFFER_KB): when the
 * server is absent, slow or gone, drained records are dropped and counted, and the
 * cumulative count reaches the server in the next STATUS frame after (re)connecting.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "runtime.h"
#include "socket_path.h"

typedef struct byte_buffer {
  char *data;
  size_t size;
  size_t capacity;
} byte_buffer;

static struct sender {
  pthread_t thread;
  int running;               /* the thread exists (changed under `lifecycle`) */
  int stop_requested;        /* before fork: finish the tick and exit */
  int stopped_for_fork;
  pthread_mutex_t lifecycle; /* start, stop and restart of the thread */
  uint32_t wake_word; /* futex: bumped to wake the sender early (exit flush); no fd needed */
  int socket_fd;             /* -1 while disconnected */
  int private_fds;           /* the sender thread has its own descriptor table (see below) */
  pid_t tid;                 /* the sender thread's, while it runs */
  unsigned idle_ticks;       /* ticks in a row with nothing to send and no GIL range open */
  int status_sent;           /* a STATUS went out on this connection */
  uint64_t status_sent_ns;
  uint64_t next_connect_ns;
  uint64_t backoff_ns;
  int warned_address;        /* one stderr line per cause, not one per retry */

  byte_buffer pending;       /* accepted for the current connection, not yet written */
  byte_buffer definitions;   /* this tick: strings and threads, sent before records */
  byte_buffer records;       /* this tick: records, thread exits, status */
  uint64_t pending_records;  /* records in `pending` since it was last empty */

  uint8_t message_sent[GW_MAX_STRINGS / 8];
  uint8_t domain_sent[GW_MAX_DOMAINS / 8];
  uint32_t category_version_sent[GW_MAX_CATEGORIES];

  gw_gil_totals retired[GW_GIL_SLOTS]; /* GIL totals of every thread reaped so far */
  uint32_t retired_count;
  int retired_sent;              /* on the current connection */

  uint64_t dropped;              /* lost by the sender itself, and by threads already reaped */
  uint64_t unmatched_reaped;

  int busy;                      /* a ring was over a quarter full at the last drain */
  int sampling;                  /* a long GIL hold is being sampled */
  uint64_t exit_requested;       /* atomically incremented by the exit flush */
  uint64_t exit_done;
} S = {.socket_fd = -1, .lifecycle = PTHREAD_MUTEX_INITIALIZER};

/* ---- buffers ---- */

static int reserve(byte_buffer *buffer, size_t extra) {
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
static int append_frame(byte_buffer *buffer, uint16_t type, const void *fixed, size_t fixed_size, const void *extra,
                        size_t extra_size, const void *extra2, size_t extra2_size) {
  uint32_t length = gw_padded((uint32_t)(fixed_size + extra_size + extra2_size));
  if (!reserve(buffer, sizeof(gw_frame_header) + length)) return 0;
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

/* ---- connection ---- */

static void disconnect(void) {
  if (S.socket_fd >= 0) close(S.socket_fd);
  S.socket_fd = -1;
  S.dropped += S.pending_records;
  S.pending_records = 0;
  S.pending.size = 0;
  S.next_connect_ns = gw_now_ns() + S.backoff_ns;
}

static int connect_unix(void) {
  const gw_config *config = &gw_rt.config;
  char why[512];
  int safe = gw_socket_path_check(config->unix_path, why, sizeof why);
  if (safe < 0 && !S.warned_address) fprintf(stderr, "gilwatch: %s; not connecting\n", why);
  if (safe < 0) S.warned_address = 1;
  if (safe <= 0) return -1; /* absent: no server yet, retry later, silently */
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  struct sockaddr_un address = {.sun_family = AF_UNIX};
  gw_copy_string(address.sun_path, sizeof address.sun_path, config->unix_path);
  if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int connect_tcp(void) {
  const gw_config *config = &gw_rt.config;
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  struct addrinfo *addresses = NULL;
  if (getaddrinfo(config->tcp_host, config->tcp_port, &hints, &addresses) != 0) {
    if (!S.warned_address) fprintf(stderr, "gilwatch: cannot resolve %s; will keep trying\n", config->tcp_host);
    S.warned_address = 1;
    return -1;
  }
  int fd = -1;
  for (struct addrinfo *a = addresses; a && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    int ok = connect(fd, a->ai_addr, a->ai_addrlen) == 0;
    if (!ok && errno == EINPROGRESS) {
      /* Up to 1 s, in slices, so a fork never waits long for this thread to stop. */
      struct pollfd p = {.fd = fd, .events = POLLOUT};
      int ready = 0;
      for (int slice = 0; slice < 20 && !ready && !gw_load_acquire(&S.stop_requested); slice++)
        ready = poll(&p, 1, 50);
      int error = 0;
      socklen_t length = sizeof error;
      ok = ready == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == 0;
    }
    if (!ok) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(addresses);
  if (fd >= 0) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return fd;
}

static void read_cmdline(byte_buffer *out) {
  out->size = 0;
  int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  while (out->size < 65536 && reserve(out, 4096)) {
    ssize_t n = read(fd, out->data + out->size, 4096);
    if (n <= 0) break;
    out->size += (size_t)n;
  }
  close(fd);
}

static void queue_hello(void) {
  char executable[4096];
  ssize_t executable_length = readlink("/proc/self/exe", executable, sizeof executable);
  if (executable_length < 0) executable_length = 0;
  byte_buffer argv = {0};
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
  append_frame(&S.pending, GW_FRAME_HELLO, &hello, sizeof hello, head, service_length + (size_t)executable_length,
               argv.data, argv.size);
  free(argv.data);
}

/* Everything the server knew is gone with the old connection: resend from scratch. */
static void reset_connection_state(void) {
  memset(S.message_sent, 0, sizeof S.message_sent);
  memset(S.domain_sent, 0, sizeof S.domain_sent);
  memset(S.category_version_sent, 0, sizeof S.category_version_sent);
  S.retired_sent = 0;
  S.status_sent = 0;
  S.idle_ticks = 0;
  for (gw_thread *thread = gw_load_acquire(&gw_rt.threads); thread; thread = thread->next) {
    thread->info_sent = 0;
    thread->name_version_sent = 0;
    thread->gil_seq_sent = UINT32_MAX; /* restate the totals on the new connection */
    for (uint32_t i = 0; i < GW_STACKS_PER_THREAD; i++)
      memset(thread->stacks[i].reported_start, 0, sizeof thread->stacks[i].reported_start);
  }
}

/* Opens a connection if one is due (a TCP connect may take up to a second). */
static int open_connection_if_due(uint64_t now) {
  if (S.socket_fd >= 0 || now < S.next_connect_ns) return -1;
  int fd = gw_rt.config.transport == GW_TRANSPORT_TCP ? connect_tcp() : connect_unix();
  if (fd < 0) {
    S.next_connect_ns = now + S.backoff_ns;
    S.backoff_ns = S.backoff_ns * 2 > 1000000000ull ? 1000000000ull : S.backoff_ns * 2;
  }
  return fd;
}

/* Moves the socket above the descriptors programs usually use, so code that reasons about
 * its own low-numbered descriptors (a child's inherited fds, "close all but 0-2" checks)
 * never meets ours. */
static int move_high(int fd) {
  struct rlimit limit;
  int base = 768;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < 1024) base = (int)(limit.rlim_cur / 2);
  if (fd >= base) return fd;
  int high = fcntl(fd, F_DUPFD_CLOEXEC, base);
  if (high < 0) return fd;
  close(fd);
  return high;
}

static void on_connected(int fd) {
  S.socket_fd = move_high(fd);
  S.backoff_ns = 50000000ull;
  S.warned_address = 0;
  S.pending.size = 0;
  S.pending_records = 0;
  reset_connection_state();
  if (gw_rt.config.token[0]) /* the server reads AUTH before anything else */
    append_frame(&S.pending, GW_FRAME_AUTH, gw_rt.config.token, strlen(gw_rt.config.token), NULL, 0, NULL, 0);
  queue_hello();
}

/* Writes what the socket takes now. */
static void write_pending(void) {
  size_t written = 0;
  while (S.socket_fd >= 0 && written < S.pending.size) {
    ssize_t n = send(S.socket_fd, S.pending.data + written, S.pending.size - written, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      written += (size_t)n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else {
      disconnect();
      return;
    }
  }
  if (S.socket_fd < 0) return;
  memmove(S.pending.data, S.pending.data + written, S.pending.size - written);
  S.pending.size -= written;
  if (S.pending.size == 0) S.pending_records = 0;
}

/* ---- what a tick sends ---- */

static void queue_strings(void) {
  uint32_t domains = gw_intern_count(&gw_rt.domains);
  for (uint32_t id = 1; id < domains; id++) {
    uint16_t length;
    const char *text;
    if (bit_get(S.domain_sent, id) || !(text = gw_intern_text(&gw_rt.domains, id, &length))) continue;
    gw_string string = {.id = id, .kind = GW_STRING_DOMAIN, .length = length};
    if (append_frame(&S.definitions, GW_FRAME_STRING, &string, sizeof string, text, length, NULL, 0))
      bit_set(S.domain_sent, id);
  }
  uint32_t messages = gw_intern_count(&gw_rt.messages);
  for (uint32_t id = 1; id < messages; id++) {
    uint16_t length;
    const char *text;
    if (bit_get(S.message_sent, id) || !(text = gw_intern_text(&gw_rt.messages, id, &length))) continue;
    gw_string string = {.id = id, .kind = GW_STRING_MESSAGE, .length = length};
    if (append_frame(&S.definitions, GW_FRAME_STRING, &string, sizeof string, text, length, NULL, 0))
      bit_set(S.message_sent, id);
  }
  for (uint32_t i = 0; i < GW_MAX_CATEGORIES; i++) {
    gw_category *category = &gw_rt.categories[i];
    if (gw_load_acquire(&category->state) != 2) continue;
    uint32_t version = gw_load_acquire(&category->version);
    if (version == S.category_version_sent[i]) continue;
    uint16_t length;
    const char *text = gw_intern_text(&gw_rt.messages, gw_load_acquire(&category->name), &length);
    if (!text) continue;
    gw_string string = {
        .id = category->category, .domain = category->domain, .kind = GW_STRING_CATEGORY, .length = length};
    if (append_frame(&S.definitions, GW_FRAME_STRING, &string, sizeof string, text, length, NULL, 0))
      S.category_version_sent[i] = version;
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

static void queue_thread_info(gw_thread *thread, uint64_t now) {
  char name[sizeof thread->name];
  uint32_t version = 0;
  int changed = 0;
  if (override_name(thread, name, sizeof name, &version)) {
    changed = version != thread->name_version_sent;
  } else if (!thread->info_sent || now - thread->name_checked_ns >= GW_NAME_REFRESH_NS) {
    gw_copy_string(name, sizeof name, thread->name[0] ? thread->name : thread->start_name);
    os_name(thread->tid, name, sizeof name);
    thread->name_checked_ns = now;
    changed = strcmp(name, thread->name) != 0;
  }
  if (!thread->info_sent || changed) {
    if (changed) gw_copy_string(thread->name, sizeof thread->name, name);
    uint16_t length = (uint16_t)strlen(thread->name);
    gw_thread_info info = {.thread = thread->id, .tid = (uint32_t)thread->tid, .name_length = length};
    if (append_frame(&S.definitions, GW_FRAME_THREAD, &info, sizeof info, thread->name, length, NULL, 0)) {
      thread->info_sent = 1;
      thread->name_version_sent = version;
    }
  }
}

/* Adds open ranges older than GW_OPEN_REPORT_AFTER_NS (all of them when `final`), once each. */
static size_t collect_open(gw_thread *thread, gw_record *out, size_t max, uint64_t now, int final) {
  size_t n = 0;
  uint32_t stacks = gw_load_acquire(&thread->stack_count);
  for (uint32_t i = 0; i < stacks; i++) {
    gw_stack *stack = &thread->stacks[i];
    uint32_t seq = gw_load_acquire(&stack->seq);
    if (seq & 1) continue; /* being pushed right now: next tick */
    uint32_t depth = gw_load_acquire(&stack->depth);
    if (depth > GW_OPEN_REPORT_DEPTH) depth = GW_OPEN_REPORT_DEPTH;
    gw_stack_entry entries[GW_OPEN_REPORT_DEPTH];
    for (uint32_t level = 0; level < depth; level++) {
      entries[level].start_ns = gw_load_relaxed(&stack->entries[level].start_ns);
      entries[level].message = gw_load_relaxed(&stack->entries[level].message);
      entries[level].category = gw_load_relaxed(&stack->entries[level].category);
      entries[level].payload = gw_load_relaxed(&stack->entries[level].payload);
      entries[level].payload_type = gw_load_relaxed(&stack->entries[level].payload_type);
    }
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (gw_load_relaxed(&stack->seq) != seq) continue;
    for (uint32_t level = 0; level < depth && n < max; level++) {
      const gw_stack_entry *entry = &entries[level];
      if (entry->start_ns == stack->reported_start[level]) continue;
      if (!final && now - entry->start_ns < GW_OPEN_REPORT_AFTER_NS) continue;
      stack->reported_start[level] = entry->start_ns;
      out[n++] = (gw_record){.kind = GW_RECORD_OPEN,
                             .payload_type = entry->payload_type,
                             .depth = (uint8_t)level,
                             .message = entry->message,
                             .domain = stack->domain,
                             .aux = entry->category,
                             .start_ns = entry->start_ns,
                             .payload = entry->payload};
    }
  }
  return n;
}

/* Long ranges set aside while the ring was full (gw_keep_always): always sent, after the
 * ring's records of the same tick; dropped and counted only while disconnected. */
static uint64_t drain_long_holds(gw_thread *thread, int connected) {
  uint64_t head = gw_load_acquire(&thread->long_head);
  uint64_t count = head - thread->long_tail;
  if (count == 0) return 0;
  if (connected) {
    gw_records_header header = {.thread = thread->id, .count = (uint32_t)count};
    gw_record records[GW_LONG_HOLD_RECORDS];
    for (uint64_t i = 0; i < count; i++) records[i] = thread->long_holds[(thread->long_tail + i) % GW_LONG_HOLD_RECORDS];
    if (!append_frame(&S.records, GW_FRAME_RECORDS, &header, sizeof header, records, count * sizeof records[0], NULL, 0))
      connected = 0;
  }
  if (!connected) S.dropped += count;
  gw_store_release(&thread->long_tail, head);
  return connected ? count : 0;
}

/* Moves the thread's open-range reports and finished records into S.records, within
 * `budget` bytes; what does not fit is dropped and counted. Returns records queued. */
static uint64_t drain_thread(gw_thread *thread, uint64_t now, int final, int connected, size_t *budget) {
  gw_record open[GW_STACKS_PER_THREAD * GW_OPEN_REPORT_DEPTH];
  size_t open_count = connected ? collect_open(thread, open, sizeof open / sizeof open[0], now, final) : 0;
  uint64_t head = gw_load_acquire(&thread->head);
  uint64_t tail = thread->tail;
  uint64_t available = head - tail;
  uint64_t total = available + open_count;
  if (total == 0) return drain_long_holds(thread, connected);
  if (available > (thread->ring_mask + 1) / 4) S.busy = 1; /* poll faster until it calms down */

  uint64_t queued = 0;
  if (connected) {
    uint64_t fit = *budget / sizeof(gw_record);
    uint64_t take = total < fit ? total : fit;
    uint64_t taken = 0;
    while (taken < take) {
      uint64_t chunk = take - taken;
      if (chunk > GW_RECORDS_PER_FRAME) chunk = GW_RECORDS_PER_FRAME;
      gw_records_header header = {.thread = thread->id, .count = (uint32_t)chunk};
      uint32_t body = (uint32_t)(sizeof header + chunk * sizeof(gw_record));
      if (!reserve(&S.records, sizeof(gw_frame_header) + body)) break;
      gw_frame_header frame = {.length = body, .type = GW_FRAME_RECORDS};
      char *out = S.records.data + S.records.size;
      memcpy(out, &frame, sizeof frame);
      memcpy(out + sizeof frame, &header, sizeof header);
      gw_record *records = (gw_record *)(out + sizeof frame + sizeof header);
      for (uint64_t i = 0; i < chunk; i++) {
        uint64_t k = taken + i;
        records[i] = k < open_count ? open[k] : thread->ring[(tail + (k - open_count)) & thread->ring_mask];
      }
      S.records.size += sizeof frame + body;
      *budget -= chunk * sizeof(gw_record);
      taken += chunk;
    }
    queued = taken;
    /* Over budget (a slow server): the rest is dropped, except long ranges (gw_keep_always). */
    gw_record kept[GW_LONG_HOLD_RECORDS];
    uint32_t kept_count = 0;
    for (uint64_t k = taken; k < total && kept_count < GW_LONG_HOLD_RECORDS; k++) {
      if (k < open_count) continue;
      const gw_record *r = &thread->ring[(tail + (k - open_count)) & thread->ring_mask];
      if (r->kind == GW_RECORD_RANGE && gw_keep_always(r->start_ns, r->end_ns))
        kept[kept_count++] = *r;
    }
    if (kept_count) {
      gw_records_header header = {.thread = thread->id, .count = kept_count};
      if (append_frame(&S.records, GW_FRAME_RECORDS, &header, sizeof header, kept, kept_count * sizeof kept[0], NULL, 0))
        queued += kept_count;
    }
  }
  S.dropped += total - queued;
  gw_store_release(&thread->tail, head);
  return queued + drain_long_holds(thread, connected);
}

/* ---- exact GIL totals ---- */

static void queue_gil_totals(uint32_t thread_id, const gw_gil_totals *totals, uint32_t count) {
  gw_gil_totals_header header = {.thread = thread_id, .count = count};
  append_frame(&S.records, GW_FRAME_GIL_TOTALS, &header, sizeof header, totals, count * sizeof *totals, NULL, 0);
}

/* The thread's cumulative totals when they changed since last sent on this connection
 * (always, once, on a new connection). Returns 0 only when the owner was mid-update: the
 * next tick sends them. Cumulative values make a skipped or lost frame harmless. */
static int queue_thread_totals(gw_thread *thread, gw_gil_totals *out, uint32_t *count) {
  uint32_t seq;
  if (!gw_gil_snapshot(thread, out, count, &seq)) return 0;
  if (*count && seq != thread->gil_seq_sent) {
    queue_gil_totals(thread->id, out, *count);
    thread->gil_seq_sent = seq;
  }
  return 1;
}

/* The thread's open GIL range (its innermost hold or wait), read under the stack's seqlock. */
static int open_gil_range(gw_thread *thread, gw_gil_open *out) {
  uint32_t stacks = gw_load_acquire(&thread->stack_count);
  for (uint32_t i = 0; i < stacks; i++) {
    gw_stack *stack = &thread->stacks[i];
    if (stack->domain != gw_rt.gil_domain) continue;
    for (int attempt = 0; attempt < 4; attempt++) {
      uint32_t seq = gw_load_acquire(&stack->seq);
      if (seq & 1) continue;
      uint32_t depth = gw_load_acquire(&stack->depth);
      if (depth == 0 || depth > GW_STACK_DEPTH) return 0;
      const gw_stack_entry *top = &stack->entries[depth - 1];
      uint32_t message = gw_load_relaxed(&top->message);
      uint64_t start = gw_load_relaxed(&top->start_ns);
      uint8_t payload_type = gw_load_relaxed(&top->payload_type);
      uint64_t payload = gw_load_relaxed(&top->payload);
      __atomic_thread_fence(__ATOMIC_ACQUIRE);
      if (gw_load_relaxed(&stack->seq) != seq) continue;
      if (message != gw_rt.gil_holding && message != gw_rt.gil_waiting) return 0;
      *out = (gw_gil_open){.thread = thread->id,
                           .kind = message == gw_rt.gil_holding ? GW_OPEN_HOLD : GW_OPEN_WAIT,
                           .interp = gw_interp_of(payload_type, payload),
                           .start_ns = start};
      return 1;
    }
    return 0;
  }
  return 0;
}

/* The GIL right now (who holds it since when, who waits, contended time), sent when it
 * changed, or with every STATUS (`force`). Returns whether a hold is open: then the process is
 * not idle, whatever else it does (a stuck holder makes no events). */
static int queue_gil_state(uint64_t now, int force) {
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
    if (!thread->info_sent || gw_load_acquire(&thread->exited) || !open_gil_range(thread, &one)) continue;
    hold_open |= one.kind == GW_OPEN_HOLD;
    if (header.open < GW_STATE_OPEN) open[header.open++] = one;
    else header.open_omitted++;
  }
  /* Contended time grows while someone waits: compare it only when nobody does. */
  int changed = header.gils != sent_gil_count || header.open != sent_open_count ||
                memcmp(open, sent_open, header.open * sizeof open[0]) != 0;
  for (uint32_t i = 0; i < header.gils && !changed; i++)
    changed = gils[i].waiters != sent_gils[i].waiters || gils[i].interp != sent_gils[i].interp ||
              (gils[i].waiters == 0 && gils[i].contended_ns != sent_gils[i].contended_ns);
  if (changed || force) {
    append_frame(&S.records, GW_FRAME_GIL_STATE, &header, sizeof header, gils, header.gils * sizeof gils[0], open,
                 header.open * sizeof open[0]);
    memcpy(sent_open, open, header.open * sizeof open[0]);
    memcpy(sent_gils, gils, header.gils * sizeof gils[0]);
    sent_open_count = header.open;
    sent_gil_count = header.gils;
  }
  return hold_open || header.open > 0;
}

static void queue_status(uint32_t thread_count) {
  uint64_t dropped = S.dropped + gw_load_relaxed(&gw_rt.lost_threads);
  uint64_t unmatched = S.unmatched_reaped;
  for (gw_thread *thread = gw_load_acquire(&gw_rt.threads); thread; thread = thread->next) {
    dropped += gw_load_relaxed(&thread->dropped);
    unmatched += gw_load_relaxed(&thread->unmatched_pops);
  }
  gw_status status = {.sent_ns = gw_now_ns(),
                      .dropped_events = dropped,
                      .unmatched_pops = unmatched,
                      .threads = thread_count};
  append_frame(&S.records, GW_FRAME_STATUS, &status, sizeof status, NULL, 0, NULL, 0);
}

/* Removes `thread` (already drained, exited) from the registry. Producers only ever
 * prepend to the head, so only an unlink at the head needs a CAS. */
static void unlink_thread(gw_thread **link, gw_thread *thread) {
  if (link == &gw_rt.threads) {
    gw_thread *expected = thread;
    if (__atomic_compare_exchange_n(&gw_rt.threads, &expected, thread->next, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE))
      return;
    for (gw_thread *p = expected; p; p = p->next)
      if (p->next == thread) {
        p->next = thread->next;
        return;
      }
  } else {
    *link = thread->next;
  }
}

/* One round. The sender thread is stopped around fork(), so a child never inherits the
 * registry or these buffers half-edited. */
static void tick(int final) {
  uint64_t now = gw_now_ns();
  int fd = open_connection_if_due(now);
  if (fd >= 0) on_connected(fd);
  int connected = S.socket_fd >= 0;
  S.definitions.size = 0;
  S.records.size = 0;

  size_t limit = gw_rt.config.send_buffer_bytes;
  size_t budget = limit > S.pending.size ? limit - S.pending.size : 0;
  uint64_t queued = 0;
  uint32_t thread_count = 0;
  if (connected && !S.retired_sent) {
    /* First on each connection, before any record: tells the receiver the counts come from
     * totals, and covers every thread reaped before this tick (later ones end with a
     * THREAD_EXIT on this connection). */
    queue_gil_totals(GW_RETIRED_THREADS, S.retired, S.retired_count);
    S.retired_sent = 1;
  }
  gw_thread **link = &gw_rt.threads;
  gw_thread *thread = gw_load_acquire(&gw_rt.threads);
  while (thread) {
    /* Read `exited` before draining: once set, every record of the thread is in its ring. */
    int exited = gw_load_acquire(&thread->exited);
    gw_gil_totals totals[GW_GIL_SLOTS];
    uint32_t totals_count = 0;
    if (connected) {
      queue_thread_info(thread, now);
      gw_sampler_observe(thread, now);
      /* A server that is not reading gets no more than the totals of threads that end:
       * the others are cumulative and go out when it catches up. */
      if (S.pending.size < limit || exited) queue_thread_totals(thread, totals, &totals_count);
    }
    queued += drain_thread(thread, now, final, connected, &budget);
    gw_thread *next = thread->next;
    if (exited) {
      /* Exited: nothing writes its totals any more. The receiver moves what it last got for
       * this thread into its retired sum at THREAD_EXIT; ours keeps every reaped thread, so
       * that a new connection can restate the threads it never saw end. */
      uint32_t seq;
      if (!connected) gw_gil_snapshot(thread, totals, &totals_count, &seq); /* no writer left: never fails */
      gw_gil_fold(S.retired, &S.retired_count, totals, totals_count);
      gw_hold_cause causes[2];
      size_t count = gw_sampler_forget(thread, causes, 2);
      if (connected) {
        for (size_t i = 0; i < count; i++)
          append_frame(&S.records, GW_FRAME_HOLD_CAUSE, &causes[i], sizeof causes[i], NULL, 0, NULL, 0);
        gw_thread_exit message = {.thread = thread->id, .time_ns = now};
        append_frame(&S.records, GW_FRAME_THREAD_EXIT, &message, sizeof message, NULL, 0, NULL, 0);
      }
      S.dropped += thread->dropped;
      S.unmatched_reaped += thread->unmatched_pops;
      unlink_thread(link, thread);
      free(thread->ring);
      free(thread);
    } else {
      thread_count++;
      link = &thread->next;
    }
    thread = next;
  }

  S.sampling = 0;
  if (connected) {
    gw_hold_cause causes[8];
    size_t count = gw_sampler_end_tick(now, causes, sizeof causes / sizeof causes[0], &S.sampling);
    for (size_t i = 0; i < count; i++)
      append_frame(&S.records, GW_FRAME_HOLD_CAUSE, &causes[i], sizeof causes[i], NULL, 0, NULL, 0);
    queue_strings();
    /* Idle (nothing new, no GIL range open): a heartbeat a second instead of every tick, and
     * the sender sleeps longer (GW_IDLE_TICK_MS), so an idle process costs next to nothing. */
    int heartbeat = final || !S.status_sent || now - S.status_sent_ns >= GW_IDLE_STATUS_NS;
    int news = queued > 0 || S.definitions.size > 0 || S.records.size > 0 || S.sampling;
    int gil_busy = queue_gil_state(now, heartbeat || news);
    S.idle_ticks = news || gil_busy ? 0 : S.idle_ticks + 1;
    if (news || gil_busy || heartbeat) {
      queue_status(thread_count);
      S.status_sent = 1;
      S.status_sent_ns = now;
    }
    /* Definitions first: records refer to them. They are small, so they may pass the budget. */
    if (reserve(&S.pending, S.definitions.size + S.records.size)) {
      memcpy(S.pending.data + S.pending.size, S.definitions.data, S.definitions.size);
      memcpy(S.pending.data + S.pending.size + S.definitions.size, S.records.data, S.records.size);
      S.pending.size += S.definitions.size + S.records.size;
      S.pending_records += queued;
    } else {
      disconnect(); /* out of memory: start over rather than send a stream with holes */
    }
  }
  write_pending();
}

/* At exit: send what is left, waiting for the socket until `deadline`. */
static void flush_until(uint64_t deadline) {
  while (S.socket_fd >= 0 && S.pending.size > 0) {
    uint64_t now = gw_now_ns();
    if (now >= deadline) return;
    struct pollfd p = {.fd = S.socket_fd, .events = POLLOUT};
    if (poll(&p, 1, (int)((deadline - now) / 1000000 + 1)) <= 0) return;
    write_pending();
  }
}

/* True when every other thread of the process has exited and only the thread-group
 * leader's zombie remains (the main thread called pthread_exit, or a thread that forked
 * has returned in the child). Without us the process would have ended then; glibc ends it
 * when the last thread exits, so the sender must not be that last thread for long. */
static int only_sender_left(void) {
  char buffer[1024];
  int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buffer, sizeof buffer - 1);
  close(fd);
  if (n <= 0) return 0;
  buffer[n] = 0;
  const char *p = strrchr(buffer, ')'); /* the command name may contain spaces */
  long threads = 0;
  /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
   * stime cutime cstime priority nice num_threads */
  if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %ld", &threads) != 1)
    return 0;
  if (threads != 2) return 0;
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)getpid());
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  n = read(fd, buffer, sizeof buffer - 1);
  close(fd);
  if (n <= 0) return 0;
  buffer[n] = 0;
  p = strrchr(buffer, ')');
  return p && p[1] == ' ' && p[2] == 'Z';
}

/* The sender's descriptors (its socket, the /proc files it reads, DNS lookups) live in a
 * descriptor table of its own, so the program never sees one: not a transient low fd while
 * it checks its own (CPython's test_pass_fds/test_close_fds), nor the socket in a child.
 * unshare(CLONE_FILES) gives this thread a copy of the program's table; the copies are
 * closed at once so that a pipe the program closes still reaches end-of-file. Standard
 * error is kept, for the sender's rare warning lines, only when it is a file or a terminal:
 * a kept pipe would hold the program's reader open. Without unshare (seccomp, old kernels)
 * the socket is moved high instead (move_high). */
static void use_private_descriptor_table(void) {
  S.private_fds = 0;
  if (syscall(SYS_close_range, ~0u, ~0u, 0) != 0) return; /* close_range: Linux 5.9+ */
  if (unshare(CLONE_FILES) != 0) return;
  struct stat err;
  int keep_stderr = fstat(2, &err) == 0 && (S_ISREG(err.st_mode) || S_ISCHR(err.st_mode));
  if (keep_stderr) {
    syscall(SYS_close_range, 0u, 1u, 0);
    syscall(SYS_close_range, 3u, ~0u, 0);
  } else {
    syscall(SYS_close_range, 0u, ~0u, 0);
  }
  S.private_fds = 1;
}

static void *sender_main(void *arg) {
  (void)arg;
  unsigned ticks = 0;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL); /* the host's signals are not ours to take */
  prctl(PR_SET_NAME, "gilwatch-send"); /* by the thread itself: no /proc file opened */
  S.tid = (pid_t)syscall(SYS_gettid);
  if (S.private_fds && S.socket_fd >= 0) {
    /* The previous sender thread (stopped for a fork) took its table, socket included:
     * what it could not write is counted as dropped, and the same instance reconnects now. */
    S.socket_fd = -1;
    disconnect();
    S.next_connect_ns = 0;
  }
  use_private_descriptor_table();
  for (;;) {
    /* Sleep one tick (a short one while rings fill fast), or less if the exit flush bumps
     * wake_word. Producers never wake us: that would be a syscall on their hot path. */
    long pause_ms = S.busy                            ? GW_BUSY_TICK_MS
                    : S.sampling                      ? GW_SAMPLE_MS
                    : S.idle_ticks >= GW_IDLE_AFTER_TICKS ? GW_IDLE_TICK_MS
                                                      : GW_TICK_MS;
    struct timespec pause = {0, pause_ms * 1000000L};
    S.busy = 0;
    syscall(SYS_futex, &S.wake_word, FUTEX_WAIT_PRIVATE, gw_load_acquire(&S.wake_word), &pause, NULL, 0);
    if (gw_load_acquire(&S.stop_requested)) {
      /* fork: with a private table the socket ends with this thread, so hand the server what
       * it takes now; otherwise pending bytes wait for the restart. */
      if (S.private_fds) write_pending();
      return NULL;
    }
    uint64_t requested = gw_load_acquire(&S.exit_requested);
    if (requested != gw_load_relaxed(&S.exit_done)) {
      uint64_t deadline = gw_now_ns() + (GW_EXIT_FLUSH_MS - 50) * 1000000ull;
      S.next_connect_ns = 0; /* the last chance: a server that came back gets the totals */
      tick(1);
      flush_until(deadline);
      gw_store_release(&S.exit_done, requested);
      continue;
    }
    tick(0);
    if (++ticks % 10 == 0 && only_sender_left()) {
      /* Flush, then exit this thread: glibc ends the process as it would have without us. */
      uint64_t deadline = gw_now_ns() + (GW_EXIT_FLUSH_MS - 50) * 1000000ull;
      S.next_connect_ns = 0;
      tick(1);
      flush_until(deadline);
      pthread_detach(pthread_self()); /* nobody will join it: the process ends with it */
      gw_store_release(&S.running, 0);
      return NULL;
    }
  }
}

/* Starts the thread; the caller holds S.lifecycle. Joinable: a fork waits for it to end. */
static int spawn(void) {
  S.stop_requested = 0;
  if (S.socket_fd < 0 && S.backoff_ns == 0) S.backoff_ns = 50000000ull;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  int ok = pthread_create(&S.thread, &attr, sender_main, NULL) == 0;
  pthread_attr_destroy(&attr);
  gw_store_release(&S.running, ok);
  return ok;
}

int gw_sender_start(void) {
  pthread_mutex_lock(&S.lifecycle);
  int ok = spawn();
  pthread_mutex_unlock(&S.lifecycle);
  return ok;
}

void gw_sender_before_fork(void) {
  pthread_mutex_lock(&S.lifecycle); /* released in the parent and the child handlers */
  S.stopped_for_fork = 0;
  if (!gw_load_acquire(&S.running)) return;
  gw_store_release(&S.stop_requested, 1);
  __atomic_add_fetch(&S.wake_word, 1, __ATOMIC_RELEASE);
  syscall(SYS_futex, &S.wake_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
  pthread_join(S.thread, NULL);
  /* pthread_join returns once the thread's stack is free, which the kernel signals before it
   * unlists the thread; CPython 3.12+ counts the process's threads right after fork() and
   * warns if there is more than one. Wait (at most 20 ms) until ours is gone from the list. */
  for (int i = 0; i < 400 && S.tid > 0 && syscall(SYS_tgkill, getpid(), S.tid, 0) == 0; i++) {
    struct timespec pause = {0, 50000};
    nanosleep(&pause, NULL);
  }
  gw_store_release(&S.running, 0);
  S.stopped_for_fork = 1;
}

void gw_sender_after_fork_parent(void) {
  if (S.stopped_for_fork) gw_store_release(&gw_rt.sender_wanted, 1);
  pthread_mutex_unlock(&S.lifecycle);
}

void gw_sender_after_fork_child(void) {
  pthread_mutex_init(&S.lifecycle, NULL);
  /* The parent's socket is a shared file description: close our copy only. With a private
   * table it was never in the program's table, and this fd number may be the program's. */
  if (S.socket_fd >= 0 && !S.private_fds) close(S.socket_fd);
  S.socket_fd = -1;
  S.backoff_ns = 50000000ull;
  S.next_connect_ns = 0;
  S.pending.size = 0;
  S.pending_records = 0;
  S.dropped = 0;
  S.unmatched_reaped = 0;
  S.exit_requested = 0;
  S.exit_done = 0;
  S.warned_address = 0;
  memset(S.retired, 0, sizeof S.retired); /* the child's own threads start from zero */
  S.retired_count = 0;
  S.retired_sent = 0;
  S.running = 0;
  S.stop_requested = 0;
  /* Started by the child's first event: a child that only execs never gets a thread. */
  gw_store_release(&gw_rt.sender_wanted, gw_load_relaxed(&gw_rt.started) ? 1 : 0);
}

void gw_sender_resume(void) {
  int wanted = 1;
  if (!__atomic_compare_exchange_n(&gw_rt.sender_wanted, &wanted, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return;
  pthread_mutex_lock(&S.lifecycle);
  if (!gw_load_acquire(&S.running)) spawn();
  pthread_mutex_unlock(&S.lifecycle);
}

void gw_sender_flush_at_exit(void) {
  gw_sender_resume(); /* stopped for a fork and not yet restarted: events may be waiting */
  if (!gw_load_acquire(&S.running) || pthread_equal(pthread_self(), S.thread)) return;
  uint64_t want = __atomic_add_fetch(&S.exit_requested, 1, __ATOMIC_ACQ_REL);
  __atomic_add_fetch(&S.wake_word, 1, __ATOMIC_RELEASE);
  syscall(SYS_futex, &S.wake_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
  uint64_t deadline = gw_now_ns() + GW_EXIT_FLUSH_MS * 1000000ull;
  while (gw_load_acquire(&S.exit_done) < want && gw_now_ns() < deadline) {
    struct timespec pause = {0, 1000000};
    nanosleep(&pause, NULL);
  }
}
