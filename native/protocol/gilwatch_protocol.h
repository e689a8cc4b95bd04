/*
 * gilwatch wire protocol, version 4 (its history, and what bumps it: docs/protocol.md,
 * "Versioning").
 *
 * The single definition shared by the injection library (C, the sender) and the
 * server addon (C++, the receiver). server/protocol.ts mirrors it for TypeScript;
 * test/protocol.test.ts proves the two agree. Prose: docs/protocol.md.
 *
 * A connection is a byte stream of frames. Every frame is a gw_frame_header
 * followed by `length` body bytes; bodies are padded to a multiple of 8 so that
 * records stay 8-byte aligned. All integers are little-endian. The first frame of
 * a connection is HELLO; after it, frames may come in any order, except that a
 * string or thread is always defined before a record refers to it.
 *
 * One header of ~500 lines on purpose (as Tracy's protocol header): the whole format in one
 * place, its structs, their lists for the TypeScript mirror, and their layout guards.
 */
#ifndef GILWATCH_PROTOCOL_H
#define GILWATCH_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#define GW_PROTOCOL_MAGIC   0x574C4947u /* the bytes "GILW" */
#define GW_PROTOCOL_VERSION 4u

/* A receiver rejects larger frames: a hostile or corrupt length cannot make it buffer more. */
#define GW_MAX_FRAME_BODY (1u << 20)
#define GW_FRAME_ALIGN    8u

/* Ids a sender may use. Receivers reject ids at or above these limits. */
#define GW_MAX_DOMAINS      256u
#define GW_MAX_STRINGS      16384u
/* Thread ids are never reused, so a thread-per-request program goes far past 65 536. */
#define GW_MAX_THREADS      0xFFFFFFFFu
#define GW_MAX_STRING_BYTES 1024u

/* Domain id 0 is NVTX's default domain (no name). Message id 0 is "no message". */
#define GW_DEFAULT_DOMAIN 0u
#define GW_NO_MESSAGE     0u

/* Each enumeration is an X-macro list of (name, value): the enum and what the addon exports
 * for the TypeScript mirror's check (GW_WIRE_ENUMS) are both generated from it. */
#define GW_ENUMERATOR(name, value) name = value,

#define GW_FRAME_TYPES(X)                                                                                   \
  X(GW_FRAME_HELLO, 1)          /* gw_hello + service + executable + argv */                                \
  X(GW_FRAME_STRING, 2)         /* gw_string + text */                                                      \
  X(GW_FRAME_THREAD, 3)         /* gw_thread_info + name */                                                 \
  X(GW_FRAME_RECORDS, 4)        /* gw_records_header + count * gw_record, all from one thread */            \
  X(GW_FRAME_STATUS, 5)         /* gw_status: heartbeat, clock, loss counters */                            \
  X(GW_FRAME_THREAD_EXIT, 6)    /* gw_thread_exit */                                                        \
  X(GW_FRAME_HOLD_CAUSE, 7)     /* gw_hold_cause: why a long GIL hold is long */                            \
  X(GW_FRAME_GIL_TOTALS, 8)     /* gw_gil_totals_header + count * gw_gil_totals: exact cumulative counts */ \
  X(GW_FRAME_AUTH, 9)           /* the ingest token (GILWATCH_TOKEN), padded; before HELLO, when used */    \
  X(GW_FRAME_GIL_STATE, 11)     /* gw_gil_state_header + gils + open: the GIL right now, every tick */      \
  X(GW_FRAME_THREAD_FOLDED, 12) /* gw_thread_folded: the thread's totals now count in the retired sum */
enum gw_frame_type { GW_FRAME_TYPES(GW_ENUMERATOR) };

#define GW_MAX_TOKEN_BYTES 256u

typedef struct gw_frame_header {
  uint32_t length; /* body bytes that follow, padding included */
  uint16_t type;   /* gw_frame_type */
  uint16_t reserved;
} gw_frame_header;

typedef struct gw_hello {
  uint32_t magic;       /* GW_PROTOCOL_MAGIC */
  uint16_t version;     /* GW_PROTOCOL_VERSION */
  uint16_t record_size; /* sizeof(gw_record): a cheap guard against mismatched builds */
  uint32_t pid;
  uint32_t ppid;
  uint64_t instance;     /* random per process image; a fork child draws a new one.
                           A reconnect with the same instance continues the same process. */
  uint64_t monotonic_ns; /* CLOCK_MONOTONIC and CLOCK_REALTIME read together, */
  uint64_t realtime_ns;  /* so the receiver can turn range times into wall time. */
  uint16_t service_length;
  uint16_t executable_length;
  uint32_t argv_length; /* argv strings, each NUL-terminated */
  /* followed by: service, executable, argv (no terminators between the three parts) */
} gw_hello;

#define GW_STRING_KINDS(X)                                                        \
  X(GW_STRING_DOMAIN, 1)   /* id is a domain id */                                \
  X(GW_STRING_MESSAGE, 2)  /* id is a message id (registered or ASCII message) */ \
  X(GW_STRING_CATEGORY, 3) /* id is an NVTX category number within `domain` */
enum gw_string_kind { GW_STRING_KINDS(GW_ENUMERATOR) };

typedef struct gw_string {
  uint32_t id;
  uint32_t domain; /* GW_STRING_CATEGORY only; 0 otherwise */
  uint16_t kind;   /* gw_string_kind */
  uint16_t length; /* text bytes, no terminator, <= GW_MAX_STRING_BYTES */
  uint32_t reserved;
  /* followed by text */
} gw_string;

typedef struct gw_thread_info {
  uint32_t thread; /* sender-chosen id, unique within the process instance */
  uint32_t tid;    /* OS thread id */
  uint16_t name_length;
  uint16_t reserved;
  uint32_t reserved2;
  /* followed by name; sent again whenever the name changes */
} gw_thread_info;

typedef struct gw_thread_exit {
  uint32_t thread;
  uint32_t reserved;
  uint64_t time_ns;
} gw_thread_exit;

typedef struct gw_records_header {
  uint32_t thread;
  uint32_t count;
} gw_records_header;

#define GW_RECORD_KINDS(X)                                                                               \
  X(GW_RECORD_RANGE, 1) /* a push/pop range that ended: start..end */                                    \
  X(GW_RECORD_OPEN, 2)  /* a push range still open at send time (start only); its RANGE follows later */ \
  X(GW_RECORD_START, 3) /* nvtxRangeStart: start, aux = range id */                                      \
  X(GW_RECORD_END, 4)   /* nvtxRangeEnd: end, aux = range id (may arrive on another thread) */           \
  X(GW_RECORD_MARK, 5)  /* an instant at start */
enum gw_record_kind { GW_RECORD_KINDS(GW_ENUMERATOR) };

#define GW_PAYLOAD_TYPES(X) X(GW_PAYLOAD_NONE, 0) X(GW_PAYLOAD_UINT64, 1) X(GW_PAYLOAD_INT64, 2) X(GW_PAYLOAD_DOUBLE, 3)
enum gw_payload_type { GW_PAYLOAD_TYPES(GW_ENUMERATOR) };

#define GW_RECORD_FLAGS(X) X(GW_FLAG_CLOSED_BY_THREAD_EXIT, 1) /* the thread exited with the range still pushed */
enum gw_record_flags { GW_RECORD_FLAGS(GW_ENUMERATOR) };

typedef struct gw_record {
  uint8_t kind;         /* gw_record_kind */
  uint8_t payload_type; /* gw_payload_type */
  uint8_t depth;        /* nesting level in its (thread, domain) stack; 0 = outermost */
  uint8_t flags;        /* gw_record_flags */
  uint32_t message;     /* message id, or GW_NO_MESSAGE */
  uint32_t domain;      /* domain id */
  uint32_t aux;         /* category (RANGE, OPEN, MARK) or range id (START, END) */
  uint64_t start_ns;    /* CLOCK_MONOTONIC of the sender; 0 for END */
  uint64_t end_ns;      /* RANGE and END only */
  uint64_t payload;     /* raw bits, interpreted by payload_type */
} gw_record;

typedef struct gw_status {
  uint64_t sent_ns;        /* sender's CLOCK_MONOTONIC when the frame was written: clock sync and lag */
  uint64_t dropped_events; /* cumulative events lost (buffer full, server absent or slow) */
  uint64_t unmatched_pops; /* cumulative pops with an empty stack */
  uint32_t threads;        /* threads currently registered */
  uint32_t flags;          /* gw_status_flags */
} gw_status;

/* RECONNECTING: the last frame of a connection the sender is about to replace (its thread
 * stops for a fork and the process reconnects as the same instance): ranges reported open stay
 * open, their RANGE records come on the next connection.
 * FINAL: the process is ending: the totals before this frame are its final ones. A connection
 * that ends without it (and without a shared region to read) ended with its totals incomplete. */
#define GW_STATUS_FLAGS(X) X(GW_STATUS_RECONNECTING, 1) X(GW_STATUS_FINAL, 2)
enum gw_status_flags { GW_STATUS_FLAGS(GW_ENUMERATOR) };

/* Why a GIL hold lasts: the holder sampled from /proc while the hold is longer than the
 * threshold (GILWATCH_LONG_HOLD_MS). Sent every 100 ms while the hold lasts, and once more
 * (GW_CAUSE_FINAL) when it ends. The first threshold of the hold is not sampled. The
 * message ids it refers to (function, file, wait site) are defined by STRING frames first. */
#define GW_CAUSE_SYSCALLS   4
#define GW_CAUSE_OTHERS     4
#define GW_SYSCALL_NONE     (-1) /* blocked outside a system call: a page fault */
#define GW_SYSCALL_UNKNOWN  (-2)
#define GW_SYSCALL_GIL_WAIT (-3) /* others only: the thread is waiting for the GIL */

/* FRAMES_LOCKED: no frames (frame_count 0) because the read of the holder's frames waited
 * for the process's memory-map lock the whole hold (msync, a page fault under I/O, an mmap).
 * FRAMES_LATE: no frames because their read was not answered before the hold ended.
 * BRACKETED: the sender never saw the hold open: its split is the proportions between a
 * reading of the holder taken before the hold (at most 1 s) and the holder's own at release.
 * FRAMES_UNSEEN: no frames because the sender never saw the hold open (it did not run). */
#define GW_CAUSE_FLAGS(X) \
  X(GW_CAUSE_FINAL, 1)    \
  X(GW_CAUSE_FRAMES_LOCKED, 2) X(GW_CAUSE_FRAMES_LATE, 4) X(GW_CAUSE_BRACKETED, 8) X(GW_CAUSE_FRAMES_UNSEEN, 16)
enum gw_cause_flags { GW_CAUSE_FLAGS(GW_ENUMERATOR) };

typedef struct gw_cause_syscall {
  int32_t syscall;    /* x86-64 system call number, or GW_SYSCALL_NONE / GW_SYSCALL_UNKNOWN */
  uint32_t wait_site; /* message id: the kernel function it slept in (/proc/.../wchan); 0: unknown */
  uint64_t ns;        /* blocked time attributed to this (syscall, wait_site) */
} gw_cause_syscall;

typedef struct gw_cause_others {
  int32_t syscall;         /* what other threads were blocked in */
  uint32_t thread_samples; /* other-thread samples that found it (÷ other_samples = threads) */
} gw_cause_others;

/* Where the holder was in Python: its innermost frames, read from the interpreter's memory
 * while the hold was in progress (the first sample of the hold that found them). */
#define GW_CAUSE_FRAMES     8
#define GW_STACK_WALK_LIMIT 128 /* stack_depth saturates here */

typedef struct gw_python_frame {
  uint32_t function; /* message id: qualified name (3.11+) or name (3.10) of the code */
  uint32_t file;     /* message id: co_filename */
  int32_t line;      /* 0: unknown */
  uint32_t reserved;
} gw_python_frame;

typedef struct gw_hold_cause {
  uint32_t thread;          /* the holder */
  uint32_t flags;           /* gw_cause_flags */
  uint64_t start_ns;        /* the hold's start, as in its OPEN and RANGE records */
  int64_t interp;           /* the hold's payload (interpreter id), 0 without one */
  uint64_t sampled_from_ns; /* first schedstat reading: the split is measured from here, */
  uint64_t sampled_to_ns;   /* to here (final: the holder's reading at release); before it, estimated */
  uint64_t on_cpu_ns;       /* running; the three parts split start_ns..sampled_to_ns */
  uint64_t runqueue_ns;     /* runnable, waiting for a CPU */
  uint64_t blocked_ns;      /* sleeping or in uninterruptible wait */
  uint32_t major_faults;
  uint32_t samples;
  uint32_t other_samples; /* times the other threads were looked at */
  uint16_t frame_count;   /* `frames` in use, innermost first; 0: not found (not a Python thread,
                             an unsupported CPython, or the walk gave up) */
  uint16_t stack_depth;   /* Python frames on the holder's stack (<= GW_STACK_WALK_LIMIT) */
  gw_cause_syscall blocked_in[GW_CAUSE_SYSCALLS]; /* the holder's, largest first */
  gw_cause_others others[GW_CAUSE_OTHERS];        /* the other threads', most seen first */
  gw_python_frame frames[GW_CAUSE_FRAMES];
} gw_hold_cause;

/* Exact GIL accounting. Each thread counts its own GIL holds and waits as they end, in the
 * process (the ranges themselves are detail and may be dropped), into its slot of the shared
 * totals region (below); the sender ships copies of it, cumulative, so a lost or late frame
 * loses nothing: the next one carries it. A thread's totals stay its own after it exits,
 * until the process folds its slot into the retired sum to make room (THREAD_FOLDED). Thread
 * id GW_RETIRED_THREADS carries that sum: every folded thread, and the counts of threads that
 * found no slot. The receiver sums the threads it has totals for plus the retired ones. A
 * new connection of the same process instance restates every thread not folded (THREAD and
 * GIL_TOTALS frames) before its first STATUS; known threads it does not restate were folded. */
#define GW_RETIRED_THREADS 0u
#define GW_GIL_SLOTS       4 /* interpreters (GILs) one thread is counted for; more fold into the last */

/* Histogram bucket upper bounds, ns; a last bucket above them all is implicit. */
#define GW_DURATION_BUCKETS 20
#define GW_DURATION_BOUNDS_NS                                                                                          \
  {                                                                                                                    \
    1000ull, 5000ull, 10000ull, 50000ull, 100000ull, 250000ull, 500000ull, 1000000ull, 2500000ull, 5000000ull,         \
        10000000ull, 25000000ull, 50000000ull, 100000000ull, 200000000ull, 500000000ull, 1000000000ull, 2000000000ull, \
        5000000000ull, 10000000000ull                                                                                  \
  }

typedef struct gw_gil_totals_header {
  uint32_t thread; /* a thread id, or GW_RETIRED_THREADS */
  uint32_t count;  /* gw_gil_totals that follow, one per GIL (<= GW_GIL_SLOTS) */
} gw_gil_totals_header;

typedef struct gw_gil_totals {
  int64_t interp;           /* the GIL's interpreter id: the ranges' payload, 0 without one */
  uint64_t holds;           /* "Holding GIL" ranges ended */
  uint64_t contended_holds; /* of those, holds that a "Waiting for GIL" range led to */
  uint64_t hold_ns;
  uint64_t waits; /* "Waiting for GIL" ranges ended (contended acquisitions) */
  uint64_t wait_ns;
  uint64_t drop_requests; /* "GIL drop request" marks */
  uint64_t longest_hold_ns;
  uint64_t longest_hold_start_ns;
  uint64_t longest_wait_ns;
  uint64_t hold_buckets[GW_DURATION_BUCKETS + 1];
  uint64_t wait_buckets[GW_DURATION_BUCKETS + 1];
} gw_gil_totals;

/* The GIL right now, sent every tick: per GIL, the threads waiting and the cumulative time
 * with at least one waiter (counted in the process as waits begin and end, so exact); and
 * every thread's open GIL range, which replaces what the receiver had. A range that ends
 * between two ticks and is then dropped cannot look open for longer than one tick. */
#define GW_STATE_GILS GW_GIL_SLOTS
#define GW_STATE_OPEN 256 /* open GIL ranges listed per frame; more are left out (counted) */

#define GW_OPEN_KINDS(X) X(GW_OPEN_HOLD, 1) X(GW_OPEN_WAIT, 2)
enum gw_open_kind { GW_OPEN_KINDS(GW_ENUMERATOR) };

typedef struct gw_gil_state_header {
  uint32_t gils;         /* gw_gil_contention that follow */
  uint32_t open;         /* then gw_gil_open */
  uint32_t open_omitted; /* open ranges beyond GW_STATE_OPEN */
  uint32_t reserved;
  uint64_t now_ns; /* the sender's clock when it looked */
} gw_gil_state_header;

typedef struct gw_gil_contention {
  int64_t interp;
  uint64_t contended_ns; /* cumulative wall time with at least one waiter, up to now_ns */
  uint32_t waiters;      /* threads waiting now */
  uint32_t reserved;
} gw_gil_contention;

typedef struct gw_gil_open {
  uint32_t thread;
  uint16_t kind; /* gw_open_kind */
  uint16_t reserved;
  int64_t interp;
  uint64_t start_ns;
} gw_gil_open;

typedef struct gw_thread_folded {
  uint32_t thread;
  uint32_t reserved;
} gw_thread_folded;

/* ---- The shared totals region ----
 * The process's exact GIL accounting lives in memory the server can read without the
 * connection: a file <socket directory>/<instance as 16 hex digits>.gwtotals that the process
 * creates 0600 beside its Unix socket and maps shared, keeping no descriptor. Each thread
 * counts into its own slot under the slot's seqlock; GIL_TOTALS frames carry copies. The
 * server maps the file read-only and reads it once the process's connection ends, so a
 * stalled, slow or restarted server, an exit that does not wait, a crash or a SIGKILL lose no
 * count: the region holds every completed hold (a writer killed in the middle of one leaves
 * that one half-counted). After its last read the server removes the file; a server that
 * finds files of processes it never saw end reads them when it starts. A process that never
 * reached a server removes its own at exit. Over TCP there is no file: the region is the
 * process's private memory, and only frames carry it. */
#define GW_SHARED_MAGIC   0x53574C47u /* "GLWS" */
#define GW_SHARED_VERSION 1u
#define GW_SHARED_SLOTS   1024u /* threads counted on their own at once; the rest in `retired` */
#define GW_SHARED_SUFFIX  ".gwtotals"

#define GW_SHARED_STATES(X) X(GW_SHARED_RUNNING, 1) X(GW_SHARED_EXITED, 2)
enum gw_shared_state { GW_SHARED_STATES(GW_ENUMERATOR) };

/* Contention of one GIL, in its own cache line: only threads beginning or ending a wait
 * (already blocking) take its lock. */
typedef struct gw_shared_contention {
  int64_t interp;
  uint32_t lock;
  uint32_t used;
  uint32_t waiters; /* threads waiting now */
  uint32_t reserved;
  uint64_t since_ns;     /* when waiters went from 0 to 1 */
  uint64_t last_end_ns;  /* the last wait's end: a new period starts no earlier */
  uint64_t contended_ns; /* ended periods with at least one waiter */
  uint64_t pad[2];
} gw_shared_contention;

typedef struct gw_shared_header {
  uint32_t magic;   /* GW_SHARED_MAGIC */
  uint32_t version; /* GW_SHARED_VERSION */
  uint64_t size;    /* bytes of the region: the header and `slots` slots */
  uint32_t slots;
  uint32_t pid;
  uint32_t ppid;
  uint32_t state;        /* gw_shared_state: EXITED once the process's exit handlers ran */
  uint64_t instance;     /* as in HELLO */
  uint64_t start_ticks;  /* the process's start (/proc/PID/stat field 22): with pid, which process */
  uint64_t monotonic_ns; /* CLOCK_MONOTONIC and CLOCK_REALTIME read together at creation */
  uint64_t realtime_ns;
  uint32_t lock;           /* spinlock: slot claims, folds, counts of threads without a slot */
  uint32_t retired_seq;    /* odd while `retired` changes */
  uint32_t retired_count;  /* `retired` in use */
  uint32_t slots_used;     /* slots [0, slots_used) have been claimed at least once */
  uint64_t dropped_events; /* as in STATUS, written by the sender each tick and after its last flush */
  uint64_t reserved2[5];   /* `contention` starts on a cache line */
  gw_shared_contention contention[GW_GIL_SLOTS];
  gw_gil_totals retired[GW_GIL_SLOTS];
  char service[256]; /* GILWATCH_SERVICE or the executable's name, NUL-terminated */
} gw_shared_header;

typedef struct gw_shared_slot {
  uint32_t seq;    /* odd while the owner updates count and gil */
  uint32_t thread; /* the thread's id, as in frames; 0: free */
  uint32_t tid;
  uint32_t count;    /* gil[] in use */
  uint32_t exited;   /* nonzero once the thread ended (its totals are final); 2 once the sender
                        has sent its last records: only then may its slot be folded */
  uint32_t name_seq; /* odd while the sender writes name */
  char name[64];     /* the thread's name as last sent, NUL-terminated (written by the sender) */
  gw_gil_totals gil[GW_GIL_SLOTS];
  uint8_t pad[40]; /* 28 cache lines: two threads' slots never share one */
} gw_shared_slot;

#define GW_SHARED_REGION_BYTES (sizeof(gw_shared_header) + GW_SHARED_SLOTS * sizeof(gw_shared_slot))

#define GW_RECORDS_PER_FRAME ((GW_MAX_FRAME_BODY - sizeof(gw_records_header)) / sizeof(gw_record))

/* ---- What crosses to TypeScript, listed once ----
 * The addon exports these lists (protocolLayout()) and test/protocol.test.ts checks
 * server/protocol.ts against them name by name; it also reads this header and fails on a
 * GW_ number that is in no list, so a constant cannot be added without its mirror.
 * Every wire struct's fields are listed in order, reserved ones included; a static_assert
 * below proves each list whole: the sizes of the fields listed add up to the struct's (so no
 * field is left out, and no struct has implicit padding, which a wire format must not have). */
/* clang-format off */
#define GW_WIRE_ENUMS(X) \
  GW_FRAME_TYPES(X) GW_STRING_KINDS(X) GW_RECORD_KINDS(X) GW_PAYLOAD_TYPES(X) GW_RECORD_FLAGS(X) \
  GW_STATUS_FLAGS(X) GW_CAUSE_FLAGS(X) GW_OPEN_KINDS(X)
#define GW_WIRE_NUMBERS(X) \
  X(GW_PROTOCOL_MAGIC) X(GW_PROTOCOL_VERSION) X(GW_MAX_FRAME_BODY) X(GW_FRAME_ALIGN) \
  X(GW_MAX_DOMAINS) X(GW_MAX_STRINGS) X(GW_MAX_THREADS) X(GW_MAX_STRING_BYTES) X(GW_MAX_TOKEN_BYTES) \
  X(GW_DEFAULT_DOMAIN) X(GW_NO_MESSAGE) X(GW_RETIRED_THREADS) X(GW_GIL_SLOTS) X(GW_DURATION_BUCKETS) \
  X(GW_STATE_GILS) X(GW_STATE_OPEN) X(GW_CAUSE_SYSCALLS) X(GW_CAUSE_OTHERS) X(GW_CAUSE_FRAMES) \
  X(GW_STACK_WALK_LIMIT) X(GW_SYSCALL_NONE) X(GW_SYSCALL_UNKNOWN) X(GW_SYSCALL_GIL_WAIT)
/* Read by C and C++ only (the shared region, the sender's own arithmetic): no mirror. */
#define GW_NATIVE_NUMBERS(X) \
  X(GW_SHARED_MAGIC) X(GW_SHARED_VERSION) X(GW_SHARED_SLOTS) X(GW_SHARED_RUNNING) X(GW_SHARED_EXITED) \
  X(GW_SHARED_REGION_BYTES) X(GW_RECORDS_PER_FRAME)

/* X(struct, its field list): F(struct, field) for each field. */
#define GW_WIRE_STRUCTS(X) \
  X(gw_frame_header, GW_FRAME_HEADER_FIELDS) X(gw_hello, GW_HELLO_FIELDS) X(gw_string, GW_STRING_FIELDS) \
  X(gw_thread_info, GW_THREAD_INFO_FIELDS) X(gw_thread_exit, GW_THREAD_EXIT_FIELDS) \
  X(gw_thread_folded, GW_THREAD_FOLDED_FIELDS) X(gw_records_header, GW_RECORDS_HEADER_FIELDS) \
  X(gw_record, GW_RECORD_FIELDS) X(gw_status, GW_STATUS_FIELDS) X(gw_cause_syscall, GW_CAUSE_SYSCALL_FIELDS) \
  X(gw_cause_others, GW_CAUSE_OTHERS_FIELDS) X(gw_python_frame, GW_PYTHON_FRAME_FIELDS) \
  X(gw_hold_cause, GW_HOLD_CAUSE_FIELDS) X(gw_gil_totals_header, GW_GIL_TOTALS_HEADER_FIELDS) \
  X(gw_gil_totals, GW_GIL_TOTALS_FIELDS) X(gw_gil_state_header, GW_GIL_STATE_HEADER_FIELDS) \
  X(gw_gil_contention, GW_GIL_CONTENTION_FIELDS) X(gw_gil_open, GW_GIL_OPEN_FIELDS)
#define GW_FRAME_HEADER_FIELDS(F) F(gw_frame_header, length) F(gw_frame_header, type) F(gw_frame_header, reserved)
#define GW_HELLO_FIELDS(F) \
  F(gw_hello, magic) F(gw_hello, version) F(gw_hello, record_size) F(gw_hello, pid) F(gw_hello, ppid) \
  F(gw_hello, instance) F(gw_hello, monotonic_ns) F(gw_hello, realtime_ns) F(gw_hello, service_length) \
  F(gw_hello, executable_length) F(gw_hello, argv_length)
#define GW_STRING_FIELDS(F) \
  F(gw_string, id) F(gw_string, domain) F(gw_string, kind) F(gw_string, length) F(gw_string, reserved)
#define GW_THREAD_INFO_FIELDS(F) \
  F(gw_thread_info, thread) F(gw_thread_info, tid) F(gw_thread_info, name_length) F(gw_thread_info, reserved) \
  F(gw_thread_info, reserved2)
#define GW_THREAD_EXIT_FIELDS(F) F(gw_thread_exit, thread) F(gw_thread_exit, reserved) F(gw_thread_exit, time_ns)
#define GW_THREAD_FOLDED_FIELDS(F) F(gw_thread_folded, thread) F(gw_thread_folded, reserved)
#define GW_RECORDS_HEADER_FIELDS(F) F(gw_records_header, thread) F(gw_records_header, count)
#define GW_RECORD_FIELDS(F) \
  F(gw_record, kind) F(gw_record, payload_type) F(gw_record, depth) F(gw_record, flags) F(gw_record, message) \
  F(gw_record, domain) F(gw_record, aux) F(gw_record, start_ns) F(gw_record, end_ns) F(gw_record, payload)
#define GW_STATUS_FIELDS(F) \
  F(gw_status, sent_ns) F(gw_status, dropped_events) F(gw_status, unmatched_pops) F(gw_status, threads) \
  F(gw_status, flags)
#define GW_CAUSE_SYSCALL_FIELDS(F) F(gw_cause_syscall, syscall) F(gw_cause_syscall, wait_site) F(gw_cause_syscall, ns)
#define GW_CAUSE_OTHERS_FIELDS(F) F(gw_cause_others, syscall) F(gw_cause_others, thread_samples)
#define GW_PYTHON_FRAME_FIELDS(F) \
  F(gw_python_frame, function) F(gw_python_frame, file) F(gw_python_frame, line) F(gw_python_frame, reserved)
#define GW_HOLD_CAUSE_FIELDS(F) \
  F(gw_hold_cause, thread) F(gw_hold_cause, flags) F(gw_hold_cause, start_ns) F(gw_hold_cause, interp) \
  F(gw_hold_cause, sampled_from_ns) F(gw_hold_cause, sampled_to_ns) F(gw_hold_cause, on_cpu_ns) \
  F(gw_hold_cause, runqueue_ns) F(gw_hold_cause, blocked_ns) F(gw_hold_cause, major_faults) \
  F(gw_hold_cause, samples) F(gw_hold_cause, other_samples) F(gw_hold_cause, frame_count) \
  F(gw_hold_cause, stack_depth) F(gw_hold_cause, blocked_in) F(gw_hold_cause, others) F(gw_hold_cause, frames)
#define GW_GIL_TOTALS_HEADER_FIELDS(F) F(gw_gil_totals_header, thread) F(gw_gil_totals_header, count)
#define GW_GIL_TOTALS_FIELDS(F) \
  F(gw_gil_totals, interp) F(gw_gil_totals, holds) F(gw_gil_totals, contended_holds) F(gw_gil_totals, hold_ns) \
  F(gw_gil_totals, waits) F(gw_gil_totals, wait_ns) F(gw_gil_totals, drop_requests) \
  F(gw_gil_totals, longest_hold_ns) F(gw_gil_totals, longest_hold_start_ns) F(gw_gil_totals, longest_wait_ns) \
  F(gw_gil_totals, hold_buckets) F(gw_gil_totals, wait_buckets)
#define GW_GIL_STATE_HEADER_FIELDS(F) \
  F(gw_gil_state_header, gils) F(gw_gil_state_header, open) F(gw_gil_state_header, open_omitted) \
  F(gw_gil_state_header, reserved) F(gw_gil_state_header, now_ns)
#define GW_GIL_CONTENTION_FIELDS(F) \
  F(gw_gil_contention, interp) F(gw_gil_contention, contended_ns) F(gw_gil_contention, waiters) \
  F(gw_gil_contention, reserved)
#define GW_GIL_OPEN_FIELDS(F) \
  F(gw_gil_open, thread) F(gw_gil_open, kind) F(gw_gil_open, reserved) F(gw_gil_open, interp) F(gw_gil_open, start_ns)
/* clang-format on */

/* Layout guards: a change here is a protocol change (bump GW_PROTOCOL_VERSION). */
#ifdef __cplusplus
#define GW_STATIC_ASSERT static_assert
#else
#define GW_STATIC_ASSERT _Static_assert
#endif
GW_STATIC_ASSERT(sizeof(gw_frame_header) == 8, "frame header");
GW_STATIC_ASSERT(sizeof(gw_hello) == 48, "hello");
GW_STATIC_ASSERT(sizeof(gw_string) == 16, "string");
GW_STATIC_ASSERT(sizeof(gw_thread_info) == 16, "thread info");
GW_STATIC_ASSERT(sizeof(gw_thread_exit) == 16, "thread exit");
GW_STATIC_ASSERT(sizeof(gw_records_header) == 8, "records header");
GW_STATIC_ASSERT(sizeof(gw_record) == 40, "record");
GW_STATIC_ASSERT(sizeof(gw_status) == 32, "status");
GW_STATIC_ASSERT(sizeof(gw_cause_syscall) == 16, "cause syscall");
GW_STATIC_ASSERT(sizeof(gw_cause_others) == 8, "cause others");
GW_STATIC_ASSERT(sizeof(gw_python_frame) == 16, "python frame");
GW_STATIC_ASSERT(sizeof(gw_hold_cause) == 304, "hold cause");
GW_STATIC_ASSERT(sizeof(gw_gil_totals_header) == 8, "gil totals header");
GW_STATIC_ASSERT(sizeof(gw_gil_state_header) == 24, "gil state header");
GW_STATIC_ASSERT(sizeof(gw_gil_contention) == 24, "gil contention");
GW_STATIC_ASSERT(sizeof(gw_gil_open) == 24, "gil open");
GW_STATIC_ASSERT(sizeof(gw_gil_totals) == 416, "gil totals");
GW_STATIC_ASSERT(sizeof(gw_thread_folded) == 8, "thread folded");
GW_STATIC_ASSERT(sizeof(gw_shared_contention) == 64, "shared contention");
GW_STATIC_ASSERT(offsetof(gw_shared_header, contention) % 64 == 0, "shared contention alignment");
GW_STATIC_ASSERT(sizeof(gw_shared_header) == 2304, "shared header");
GW_STATIC_ASSERT(sizeof(gw_shared_slot) == 1792, "shared slot");
#define GW_FIELD_BYTES(type, field) +sizeof(((type *)0)->field)
#define GW_LISTED_WHOLE(type, fields) \
  GW_STATIC_ASSERT(0 fields(GW_FIELD_BYTES) == sizeof(type), #type ": its field list leaves a field out");
GW_WIRE_STRUCTS(GW_LISTED_WHOLE)

static inline uint32_t gw_padded(uint32_t n) { return (n + GW_FRAME_ALIGN - 1) & ~(GW_FRAME_ALIGN - 1); }

/* Index of the first bucket whose bound is >= ns (GW_DURATION_BUCKETS: above them all). */
static inline unsigned gw_duration_bucket(uint64_t ns) {
  static const uint64_t bounds[GW_DURATION_BUCKETS] = GW_DURATION_BOUNDS_NS;
  unsigned i = 0;
  while (i < GW_DURATION_BUCKETS && ns > bounds[i]) i++;
  return i;
}

/* The GIL a GIL range belongs to: its payload (the interpreter id), 0 without one. */
static inline int64_t gw_interp_of(uint8_t payload_type, uint64_t payload) {
  return payload_type == GW_PAYLOAD_INT64 || payload_type == GW_PAYLOAD_UINT64 ? (int64_t)payload : 0;
}

#endif
