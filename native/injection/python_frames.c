/*
 * The Python location of a GIL holder: its innermost frames (function, file, line), read by
 * the sender thread from the interpreter's memory while the holder is stuck with the GIL.
 *
 * The holder is usually in C code that holds the GIL, so its frames stay put; but it may
 * also be running Python, or exiting, while we read. So nothing here dereferences a pointer
 * of the interpreter: every read goes through process_vm_readv on our own pid, which
 * returns EFAULT for an unmapped address instead of crashing the host, every walk is
 * bounded (interpreters, threads, frames, string lengths, line-table bytes), and a value
 * that does not look right (a code object whose type is not PyCode_Type, a string that is
 * not compact) ends the walk with what was found so far. Layouts come from the shared
 * table in native/layout/cpython_layout.c.
 *
 * Path: _PyRuntime.interpreters.head -> each interpreter's threads -> the thread state whose
 * native_thread_id is the holder's tid (3.10: whose thread_id is its pthread_t) -> its
 * current frame -> previous frames. Line numbers: 3.10's co_linetable (byte pairs) with
 * f_lasti; 3.11+'s PEP 626 location table with the frame's instruction pointer.
 */
#include "python_frames.h"

#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../layout/cpython_layout.h"
#include "runtime.h"

#define MAX_INTERPRETERS    64
#define MAX_THREAD_STATES   4096
#define MAX_NAME_CHARS      200  /* longer names keep their end (a path's file name) */
#define LINETABLE_CHUNK     4096 /* one read each: a read costs ~1.5 us whatever its size */
#define MAX_LINETABLE_BYTES 65536
#define OB_TYPE             8   /* PyObject.ob_type in every default build */
#define CODE_HEADER_MAX     512 /* enough of a code object for every field read */
#define FRAME_HEADER_MAX    128

#define DESCRIBED_CACHE 64 /* (code, instruction) -> what describe() found */

static struct {
  int state; /* 0 not tried, 1 ready, -1 not a supported CPython */
  gw_py_layout layout;
  uintptr_t code_type; /* &PyCode_Type */
  pid_t pid;           /* ours, read once per walk (a fork child has another) */
} py;

/* A frame described before: the same code object (same address, and the same name, file
 * and line-table objects) at the same instruction has the same function, file and line, so
 * a hit saves the strings and the line table (most of a frame's reads). */
static struct described {
  uintptr_t code, name, filename, linetable;
  int64_t unit;
  gw_python_frame frame;
} described[DESCRIBED_CACHE];

/* ---- reading memory that may not be there ---- */

static ssize_t peek_some(uintptr_t address, void *out, size_t size) {
  if (address < 4096) return -1;
  struct iovec local = {out, size}, remote = {(void *)address, size};
  return process_vm_readv(py.pid, &local, 1, &remote, 1, 0);
}

static int peek(uintptr_t address, void *out, size_t size) { return peek_some(address, out, size) == (ssize_t)size; }

static uint64_t field_u64(const unsigned char *base, uint64_t offset) {
  uint64_t value;
  memcpy(&value, base + offset, sizeof value);
  return value;
}

static int32_t field_i32(const unsigned char *base, uint64_t offset) {
  int32_t value;
  memcpy(&value, base + offset, sizeof value);
  return value;
}

static int ready(void) {
  if (py.state) return py.state > 0;
  int major, minor, micro;
  if (!gw_py_version(&major, &minor, &micro)) return 0; /* not initialized yet: try again later */
  const char *runtime = dlsym(RTLD_DEFAULT, "_PyRuntime");
  void *code_type = dlsym(RTLD_DEFAULT, "PyCode_Type");
  char why[128];
  py.state = -1;
  if (!runtime || !code_type || !gw_py_layout_load(&py.layout, major, minor, runtime, why, sizeof why)) return 0;
  if (py.layout.free_threaded) return 0; /* no GIL to hold */
  py.code_type = (uintptr_t)code_type;
  py.state = 1;
  return 1;
}

/* ---- strings ---- */

static size_t put_utf8(char *out, uint32_t c) {
  if (c < 0x80) return out[0] = (char)c, 1;
  if (c < 0x800) return out[0] = (char)(0xc0 | c >> 6), out[1] = (char)(0x80 | (c & 63)), 2;
  if (c < 0x10000) {
    if (c >= 0xd800 && c < 0xe000) c = 0xfffd; /* a lone surrogate */
    out[0] = (char)(0xe0 | c >> 12), out[1] = (char)(0x80 | ((c >> 6) & 63)), out[2] = (char)(0x80 | (c & 63));
    return 3;
  }
  if (c > 0x10ffff) c = 0xfffd;
  out[0] = (char)(0xf0 | c >> 18), out[1] = (char)(0x80 | ((c >> 12) & 63));
  out[2] = (char)(0x80 | ((c >> 6) & 63)), out[3] = (char)(0x80 | (c & 63));
  return 4;
}

/* The id of str object `address` in the message table; 0 if it is not a compact str. */
static uint32_t intern_str(uintptr_t address) {
  const gw_py_layout *l = &py.layout;
  /* The header and, for most names, the text in one read; less may be readable (the end of
   * a mapping), which is fine as long as the header is. */
  unsigned char header[256];
  ssize_t got = l->unicode_compact_size <= 128 ? peek_some(address, header, sizeof header) : -1;
  if (got < (ssize_t)l->unicode_compact_size) return 0;
  uint32_t state = (uint32_t)field_i32(header, l->unicode_state);
  int64_t length = (int64_t)field_u64(header, l->unicode_length);
  unsigned kind = (state >> 2) & 7, compact = (state >> 5) & 1, ascii = (state >> 6) & 1;
  if (!compact || (kind != 1 && kind != 2 && kind != 4) || length < 0 || length > (1 << 20)) return 0;
  int64_t skip = length > MAX_NAME_CHARS ? length - MAX_NAME_CHARS : 0;
  size_t count = (size_t)(length - skip);
  uint8_t data[MAX_NAME_CHARS * 4];
  uint64_t offset = (ascii ? l->unicode_ascii_size : l->unicode_compact_size) + (uint64_t)skip * kind;
  if (offset + count * kind <= (uint64_t)got)
    memcpy(data, header + offset, count * kind);
  else if (count && !peek(address + offset, data, count * kind))
    return 0;
  char text[3 + MAX_NAME_CHARS * 4];
  size_t n = 0;
  if (skip) memcpy(text, "...", 3), n = 3;
  for (size_t i = 0; i < count; i++) {
    uint32_t c = kind == 1 ? data[i] : kind == 2 ? ((const uint16_t *)data)[i] : ((const uint32_t *)data)[i];
    n += put_utf8(text + n, c);
  }
  return gw_intern(&gw_rt.messages, text, n);
}

/* ---- line numbers ---- */

typedef struct table_reader {
  uintptr_t data;  /* the bytes' first byte in the interpreter */
  size_t size, at; /* total, next to read */
  uint8_t chunk[LINETABLE_CHUNK];
  size_t chunk_start, chunk_size;
} table_reader;

static int next_byte(table_reader *r, uint8_t *byte) {
  if (r->at >= r->size) return 0;
  if (r->at >= r->chunk_start + r->chunk_size) {
    size_t want = r->size - r->at < LINETABLE_CHUNK ? r->size - r->at : LINETABLE_CHUNK;
    if (!peek(r->data + r->at, r->chunk, want)) return 0;
    r->chunk_start = r->at;
    r->chunk_size = want;
  }
  *byte = r->chunk[r->at++ - r->chunk_start];
  return 1;
}

static int open_table(table_reader *r, uintptr_t bytes_object) {
  const gw_py_layout *l = &py.layout;
  int64_t size;
  if (!peek(bytes_object + l->bytes_size, &size, sizeof size) || size < 0) return 0;
  r->data = bytes_object + l->bytes_data;
  r->size = size > MAX_LINETABLE_BYTES ? MAX_LINETABLE_BYTES : (size_t)size;
  r->at = r->chunk_start = r->chunk_size = 0;
  return 1;
}

static int varint(table_reader *r, uint32_t *value) {
  uint8_t b;
  if (!next_byte(r, &b)) return 0;
  *value = b & 63;
  for (int shift = 6; b & 64; shift += 6) {
    if (shift > 30 || !next_byte(r, &b)) return 0;
    *value |= (uint32_t)(b & 63) << shift;
  }
  return 1;
}

static int svarint(table_reader *r, int *value) {
  uint32_t u;
  if (!varint(r, &u)) return 0;
  *value = u & 1 ? -(int)(u >> 1) : (int)(u >> 1);
  return 1;
}

/* 3.11+: Objects/locations.md. Entries of (code, length in code units); line deltas from
 * co_firstlineno. `unit` is the instruction's index in code units. */
static int line_pep626(table_reader *r, int firstlineno, int64_t unit) {
  int line = firstlineno;
  int64_t address = 0;
  uint8_t first;
  while (next_byte(r, &first)) {
    if (!(first & 0x80)) return 0;
    int code = (first >> 3) & 15, length = (first & 7) + 1, delta = 0, has_line = 1;
    uint32_t skip;
    uint8_t b;
    switch (code) {
      case 15: has_line = 0; break; /* no location */
      case 14:                      /* long form: line delta, end line, column, end column */
        if (!svarint(r, &delta) || !varint(r, &skip) || !varint(r, &skip) || !varint(r, &skip)) return 0;
        break;
      case 13:
        if (!svarint(r, &delta)) return 0;
        break; /* no columns */
      case 12:
      case 11:
      case 10: /* one line: delta 0..2, start and end columns */
        delta = code - 10;
        if (!next_byte(r, &b) || !next_byte(r, &b)) return 0;
        break;
      default:
        if (!next_byte(r, &b)) return 0; /* short form: same line, one column byte */
    }
    line += delta;
    if (unit >= address && unit < address + length) return has_line && line > 0 ? line : 0;
    address += length;
  }
  return 0;
}

/* 3.10: co_linetable is (bytecode bytes, signed line delta) pairs; -128: no line. */
static int line_310(table_reader *r, int firstlineno, int64_t byte_offset) {
  int line = firstlineno, computed = firstlineno;
  int64_t start = 0;
  uint8_t advance, delta;
  while (next_byte(r, &advance) && next_byte(r, &delta)) {
    if ((int8_t)delta == -128) {
      line = -1;
    } else {
      computed += (int8_t)delta;
      line = computed;
    }
    if (advance && byte_offset >= start && byte_offset < start + advance) return line > 0 ? line : 0;
    start += advance;
  }
  return 0;
}

/* ---- frames ---- */

/* The thread's state in interpreter `want_interp` if it has one there, else its first (the
 * newest interpreter's) when `want_interp` is -1 or not found. */
static uintptr_t thread_state_of(pid_t tid, unsigned long pthread, int64_t want_interp) {
  const gw_py_layout *l = &py.layout;
  uintptr_t interp, first = 0;
  if (!peek((uintptr_t)l->runtime + l->runtime_interpreters_head, &interp, sizeof interp)) return 0;
  int states = 0;
  for (int i = 0; interp && i < MAX_INTERPRETERS; i++) {
    int64_t id = -1;
    if (want_interp >= 0 && !peek(interp + l->interp_id, &id, sizeof id)) return first;
    uintptr_t tstate;
    if (!peek(interp + l->interp_threads_head, &tstate, sizeof tstate)) return first;
    for (; tstate && states < MAX_THREAD_STATES; states++) {
      unsigned long thread;
      uint64_t at = l->tstate_native_thread_id ? l->tstate_native_thread_id : l->tstate_thread_id;
      unsigned long want = l->tstate_native_thread_id ? (unsigned long)tid : pthread;
      if (!peek(tstate + at, &thread, sizeof thread)) return first;
      if (thread == want) {
        if (id == want_interp || want_interp < 0) return tstate;
        if (!first) first = tstate;
        break; /* one state per thread and interpreter */
      }
      if (!peek(tstate + l->tstate_next, &tstate, sizeof tstate)) return first;
    }
    if (!peek(interp + l->interp_next, &interp, sizeof interp)) return first;
  }
  return first;
}

static uintptr_t current_frame(uintptr_t tstate) {
  const gw_py_layout *l = &py.layout;
  uintptr_t frame;
  if (!peek(tstate + l->tstate_frame, &frame, sizeof frame)) return 0;
  if (l->via_cframe && frame && !peek(frame + l->cframe_current_frame, &frame, sizeof frame)) return 0;
  return frame;
}

/* Fills `out` from code object `code` executing at `unit` (code units; 3.10: f_lasti).
 * 0: not a code object. */
static int describe(uintptr_t code, int64_t unit, gw_python_frame *out) {
  const gw_py_layout *l = &py.layout;
  unsigned char header[CODE_HEADER_MAX];
  uint64_t size = l->code_adaptive > l->code_linetable ? l->code_adaptive : l->code_linetable + 8;
  if (size > sizeof header || !peek(code, header, size)) return 0;
  if (field_u64(header, OB_TYPE) != py.code_type) return 0;
  uintptr_t name = field_u64(header, l->code_qualname ? l->code_qualname : l->code_name);
  uintptr_t filename = field_u64(header, l->code_filename), linetable = field_u64(header, l->code_linetable);
  struct described *seen = &described[((code >> 4) ^ (uint64_t)unit * 0x9e3779b1u) % DESCRIBED_CACHE];
  if (seen->code == code && seen->unit == unit && seen->name == name && seen->filename == filename &&
      seen->linetable == linetable) {
    *out = seen->frame;
    return 1;
  }
  int firstlineno = field_i32(header, l->code_firstlineno);
  *out = (gw_python_frame){.function = intern_str(name), .file = intern_str(filename)};
  table_reader r;
  if (unit >= 0 && open_table(&r, linetable))
    out->line =
        l->frame_kind == GW_PY_FRAME_OBJECT ? line_310(&r, firstlineno, unit * 2) : line_pep626(&r, firstlineno, unit);
  *seen = (struct described){code, name, filename, linetable, unit, *out};
  return 1;
}

int gw_python_frames(pid_t tid, unsigned long pthread, int64_t interp, gw_python_frame *out, int max, uint16_t *depth) {
  *depth = 0;
  if (!ready()) return 0;
  py.pid = getpid();
  const gw_py_layout *l = &py.layout;
  uintptr_t tstate = thread_state_of(tid, pthread, interp);
  uintptr_t frame = tstate ? current_frame(tstate) : 0;
  int n = 0, seen = 0;
  for (int steps = 0; frame && steps < 4 * GW_STACK_WALK_LIMIT && seen < GW_STACK_WALK_LIMIT; steps++) {
    unsigned char f[FRAME_HEADER_MAX];
    uint64_t size = l->frame_previous;
    if (l->frame_code > size) size = l->frame_code;
    if (l->frame_instr > size) size = l->frame_instr;
    if (l->frame_lasti > size) size = l->frame_lasti;
    if (l->frame_owner > size) size = l->frame_owner;
    size += 8;
    if (size > sizeof f || !peek(frame, f, size)) break;
    uintptr_t previous = field_u64(f, l->frame_previous);
    uintptr_t code = field_u64(f, l->frame_code);
    if (l->frame_code_tagged) code &= ~(uintptr_t)7; /* _PyStackRef tag bits */
    int python = l->frame_kind == GW_PY_FRAME_OBJECT || f[l->frame_owner] < GW_PY_FIRST_NON_PYTHON_OWNER;
    if (python) {
      if (n < max) {
        int64_t unit;
        if (l->frame_kind == GW_PY_FRAME_OBJECT) {
          unit = field_i32(f, l->frame_lasti);
        } else {
          uintptr_t instr = field_u64(f, l->frame_instr), first = code + l->code_adaptive;
          unit = instr >= first ? (int64_t)(instr - first) / 2 : -1;
        }
        if (!describe(code, unit, &out[n])) break;
        n++;
      }
      seen++;
    }
    if (previous == frame) break;
    frame = previous;
  }
  *depth = (uint16_t)seen;
  return n;
}
