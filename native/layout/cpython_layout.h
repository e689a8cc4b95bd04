/*
 * Where a running CPython keeps what gilwatch reads from it: the one table of CPython
 * struct layouts, shared by the probe (the GIL's interpreter id) and the injection library
 * (the GIL holder's Python frames, python_frames.c).
 *
 * 3.13+ publishes its layout in _Py_DebugOffsets at the start of _PyRuntime; that struct
 * itself changes between minor versions, so cpython_layout.c knows where each field read sits in
 * it for each minor tested, and reads the values from the running interpreter. 3.10-3.12
 * have no such struct: their offsets are constants here, checked with offsetof() against
 * the headers of pyenv's 3.10.13, 3.11.7 and 3.12.1. x86-64, default (GIL) builds only.
 */
#ifndef GILWATCH_CPYTHON_LAYOUT_H
#define GILWATCH_CPYTHON_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#define GW_PY_MIN_MINOR 10
#define GW_PY_MAX_MINOR 15

enum gw_py_frame_kind {
  GW_PY_FRAME_OBJECT = 1,      /* 3.10: PyFrameObject chain from tstate->frame, f_lasti */
  GW_PY_FRAME_INTERPRETER = 2, /* 3.11+: _PyInterpreterFrame chain, instruction pointer */
};

/* Byte offsets of the fields gilwatch reads. Several are legitimately 0 (a struct's first
 * field); those marked "0: none" mean the version has no such field when 0. */
typedef struct gw_py_layout {
  int minor;              /* 3.x */
  int free_threaded;      /* a --disable-gil build (3.13+) */
  const char *runtime;    /* _PyRuntime */
  int from_debug_offsets; /* read from _Py_DebugOffsets (3.13+) */

  uint64_t runtime_interpreters_head;
  uint64_t interp_size, interp_id, interp_next, interp_threads_head, interp_gil_locked;
  uint64_t tstate_next, tstate_thread_id, tstate_native_thread_id; /* native: 0: none (3.10) */
  uint64_t tstate_frame;         /* the current frame, or (3.11/3.12) the _PyCFrame holding it */
  int via_cframe;                /* 3.11/3.12: tstate_frame is `cframe`, and the frame is */
  uint64_t cframe_current_frame; /* at this offset in the _PyCFrame */
  int frame_kind;                /* gw_py_frame_kind */
  uint64_t frame_previous, frame_code, frame_instr, frame_owner; /* instr, owner: 3.11+ */
  uint64_t frame_lasti;                                          /* 3.10: int f_lasti, in code units */
  int frame_code_tagged; /* 3.14+: f_executable is a _PyStackRef with tag bits */
  uint64_t code_filename, code_name, code_qualname /* 0: none (3.10) */, code_firstlineno, code_linetable,
      code_adaptive;
  uint64_t bytes_size, bytes_data;
  uint64_t unicode_length, unicode_state, unicode_ascii_size, unicode_compact_size;
} gw_py_layout;

/* Frames owned by the C stack or the interpreter itself (entry shims): not Python code.
 * FRAME_OWNED_BY_CSTACK is 3 in 3.12/3.13; 3.14 has FRAME_OWNED_BY_INTERPRETER = 3, CSTACK = 4. */
#define GW_PY_FIRST_NON_PYTHON_OWNER 3

/* Fills `layout` for CPython 3.`minor` whose _PyRuntime is `runtime`. 0 with a one-line
 * reason in `why` when the version is not one of the table's or its _Py_DebugOffsets do not
 * read as expected. */
int gw_py_layout_load(gw_py_layout *layout, int major, int minor, const char *runtime, char *why, size_t why_size);

/* The running interpreter's version (Py_Version on 3.11+, Py_GetVersion before). 0: not a
 * CPython (yet). */
int gw_py_version(int *major, int *minor, int *micro);

#endif
