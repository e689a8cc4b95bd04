/* The CPython layout table (see layout.h): constants for 3.10-3.12, positions inside
 * _Py_DebugOffsets for 3.13+. */
#include "cpython_layout.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

/* 3.10-3.12, from offsetof() on pyenv's 3.10.13 / 3.11.7 / 3.12.1 headers (Py_BUILD_CORE). */
static const gw_py_layout fixed_layouts[] = {
    {.minor = 10,
     .runtime_interpreters_head = 32,
     .interp_next = 0,
     .interp_id = 24,
     .interp_threads_head = 8,
     .tstate_next = 8,
     .tstate_thread_id = 176,
     .tstate_native_thread_id = 0,
     .tstate_frame = 24,
     .frame_kind = GW_PY_FRAME_OBJECT,
     .frame_previous = 24,
     .frame_code = 32,
     .frame_lasti = 96,
     .code_filename = 104,
     .code_name = 112,
     .code_qualname = 0,
     .code_firstlineno = 40,
     .code_linetable = 120,
     .bytes_size = 16,
     .bytes_data = 32,
     .unicode_length = 16,
     .unicode_state = 32,
     .unicode_ascii_size = 48,
     .unicode_compact_size = 72},
    {.minor = 11,
     .runtime_interpreters_head = 40,
     .interp_next = 0,
     .interp_id = 48,
     .interp_threads_head = 16,
     .tstate_next = 8,
     .tstate_thread_id = 152,
     .tstate_native_thread_id = 160,
     .tstate_frame = 56,
     .via_cframe = 1,
     .cframe_current_frame = 8,
     .frame_kind = GW_PY_FRAME_INTERPRETER,
     .frame_previous = 48,
     .frame_code = 32,
     .frame_instr = 56,
     .frame_owner = 69,
     .code_filename = 112,
     .code_name = 120,
     .code_qualname = 128,
     .code_firstlineno = 72,
     .code_linetable = 136,
     .code_adaptive = 184,
     .bytes_size = 16,
     .bytes_data = 32,
     .unicode_length = 16,
     .unicode_state = 32,
     .unicode_ascii_size = 48,
     .unicode_compact_size = 72},
    {.minor = 12,
     .runtime_interpreters_head = 40,
     .interp_next = 0,
     .interp_id = 8,
     .interp_threads_head = 72,
     .tstate_next = 8,
     .tstate_thread_id = 136,
     .tstate_native_thread_id = 144,
     .tstate_frame = 56,
     .via_cframe = 1,
     .cframe_current_frame = 0,
     .frame_kind = GW_PY_FRAME_INTERPRETER,
     .frame_previous = 8,
     .frame_code = 0,
     .frame_instr = 56,
     .frame_owner = 70,
     .code_filename = 112,
     .code_name = 120,
     .code_qualname = 128,
     .code_firstlineno = 68,
     .code_linetable = 136,
     .code_adaptive = 192,
     .bytes_size = 16,
     .bytes_data = 32,
     .unicode_length = 16,
     .unicode_state = 32,
     .unicode_ascii_size = 40,
     .unicode_compact_size = 56},
};

/* 3.13+: byte positions, inside _Py_DebugOffsets, of the fields read (Include/internal/
 * pycore_debug_offsets.h; pycore_runtime.h in 3.13), from offsetof() on the 3.13.0, 3.14
 * and 3.15 headers. 3.14 inserted threads_main before the GIL fields and grew thread_state;
 * 3.15 grew thread_state and interpreter_frame again. */
static const struct debug_offsets_positions {
  int minor;
  uint16_t interpreters_head;
  uint16_t interp_size, interp_id, interp_next, interp_threads_head, gil_locked;
  uint16_t tstate_next, tstate_current_frame, tstate_thread_id, tstate_native_thread_id;
  uint16_t frame_previous, frame_executable, frame_instr_ptr, frame_owner;
  uint16_t code_filename, code_name, code_qualname, code_linetable, code_firstlineno, code_adaptive;
  uint16_t bytes_size, bytes_data;
  uint16_t unicode_state, unicode_length, unicode_ascii_size;
} debug_offsets_positions[] = {
    {13,  40,  48,  56,  64,  72,  136, 168, 184, 192, 200, 232, 240,
     248, 264, 280, 288, 296, 304, 312, 344, 520, 528, 544, 552, 560},
    {14,  40,  48,  56,  64,  72,  144, 192, 208, 216, 224, 256, 264,
     272, 288, 320, 328, 336, 344, 352, 384, 600, 608, 624, 632, 640},
    {15,  40,  48,  56,  64,  72,  144, 192, 208, 240, 248, 320, 328,
     336, 352, 384, 392, 400, 408, 416, 448, 696, 704, 720, 728, 736},
};

#define DEBUG_OFFSETS_VERSION       8 /* uint64_t version: PY_VERSION_HEX */
#define DEBUG_OFFSETS_FREE_THREADED 16
#define MAX_STRUCT_OFFSET           (1u << 24) /* anything larger is not a layout */

static uint64_t read_u64(const char *at) {
  uint64_t value;
  memcpy(&value, at, sizeof value);
  return value;
}

int gw_py_version(int *major, int *minor, int *micro) {
  const unsigned long *hex = dlsym(RTLD_DEFAULT, "Py_Version"); /* 3.11+ */
  if (hex) {
    *major = (int)(*hex >> 24);
    *minor = (int)((*hex >> 16) & 0xff);
    *micro = (int)((*hex >> 8) & 0xff);
    return 1;
  }
  const char *(*get_version)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "Py_GetVersion");
  return get_version && sscanf(get_version(), "%d.%d.%d", major, minor, micro) == 3;
}

static int load_debug_offsets(gw_py_layout *l, const struct debug_offsets_positions *p, int major, char *why,
                              size_t why_size) {
  const char *r = l->runtime;
  uint64_t version = read_u64(r + DEBUG_OFFSETS_VERSION);
  if ((int)((version >> 24) & 0xff) != major || (int)((version >> 16) & 0xff) != l->minor) {
    snprintf(why, why_size, "_Py_DebugOffsets says %d.%d", (int)((version >> 24) & 0xff),
             (int)((version >> 16) & 0xff));
    return 0;
  }
  l->from_debug_offsets = 1;
  l->free_threaded = read_u64(r + DEBUG_OFFSETS_FREE_THREADED) != 0;
  l->runtime_interpreters_head = read_u64(r + p->interpreters_head);
  l->interp_size = read_u64(r + p->interp_size);
  l->interp_id = read_u64(r + p->interp_id);
  l->interp_next = read_u64(r + p->interp_next);
  l->interp_threads_head = read_u64(r + p->interp_threads_head);
  l->interp_gil_locked = read_u64(r + p->gil_locked);
  l->tstate_next = read_u64(r + p->tstate_next);
  l->tstate_frame = read_u64(r + p->tstate_current_frame);
  l->tstate_thread_id = read_u64(r + p->tstate_thread_id);
  l->tstate_native_thread_id = read_u64(r + p->tstate_native_thread_id);
  l->frame_kind = GW_PY_FRAME_INTERPRETER;
  l->frame_previous = read_u64(r + p->frame_previous);
  l->frame_code = read_u64(r + p->frame_executable);
  l->frame_code_tagged = l->minor >= 14;
  l->frame_instr = read_u64(r + p->frame_instr_ptr);
  l->frame_owner = read_u64(r + p->frame_owner);
  l->code_filename = read_u64(r + p->code_filename);
  l->code_name = read_u64(r + p->code_name);
  l->code_qualname = read_u64(r + p->code_qualname);
  l->code_linetable = read_u64(r + p->code_linetable);
  l->code_firstlineno = read_u64(r + p->code_firstlineno);
  l->code_adaptive = read_u64(r + p->code_adaptive);
  l->bytes_size = read_u64(r + p->bytes_size);
  l->bytes_data = read_u64(r + p->bytes_data);
  l->unicode_state = read_u64(r + p->unicode_state);
  l->unicode_length = read_u64(r + p->unicode_length);
  l->unicode_ascii_size = read_u64(r + p->unicode_ascii_size);
  l->unicode_compact_size = l->unicode_ascii_size + 16; /* + utf8_length, utf8 (3.12+) */
  const uint64_t read[] = {l->runtime_interpreters_head,
                           l->interp_size,
                           l->interp_next,
                           l->interp_threads_head,
                           l->tstate_next,
                           l->tstate_frame,
                           l->tstate_native_thread_id,
                           l->frame_previous,
                           l->frame_code,
                           l->frame_instr,
                           l->frame_owner,
                           l->code_filename,
                           l->code_qualname,
                           l->code_linetable,
                           l->code_firstlineno,
                           l->code_adaptive,
                           l->bytes_data,
                           l->unicode_state,
                           l->unicode_ascii_size};
  for (size_t i = 0; i < sizeof read / sizeof read[0]; i++)
    if (read[i] > MAX_STRUCT_OFFSET) {
      snprintf(why, why_size, "its _Py_DebugOffsets do not read as expected");
      return 0;
    }
  if (l->interp_id + 8 > l->interp_size || l->interp_gil_locked + 4 > l->interp_size) {
    snprintf(why, why_size, "its _Py_DebugOffsets do not read as expected");
    return 0;
  }
  return 1;
}

int gw_py_layout_load(gw_py_layout *layout, int major, int minor, const char *runtime, char *why, size_t why_size) {
  memset(layout, 0, sizeof *layout);
  layout->minor = minor;
  layout->runtime = runtime;
  if (major != 3 || minor < GW_PY_MIN_MINOR || minor > GW_PY_MAX_MINOR) {
    snprintf(why, why_size, "3.%d to 3.%d", GW_PY_MIN_MINOR, GW_PY_MAX_MINOR);
    return 0;
  }
  for (size_t i = 0; i < sizeof fixed_layouts / sizeof fixed_layouts[0]; i++) {
    if (fixed_layouts[i].minor != minor) continue;
    *layout = fixed_layouts[i];
    layout->runtime = runtime;
    return 1;
  }
  if (!runtime || memcmp(runtime, "xdebugpy", 8) != 0) {
    snprintf(why, why_size, "no _Py_DebugOffsets at _PyRuntime");
    return 0;
  }
  for (size_t i = 0; i < sizeof debug_offsets_positions / sizeof debug_offsets_positions[0]; i++)
    if (debug_offsets_positions[i].minor == minor)
      return load_debug_offsets(layout, &debug_offsets_positions[i], major, why, why_size);
  snprintf(why, why_size, "no layout for 3.%d", minor);
  return 0;
}
