/*
 * Which CPython the probe is in, and where that version keeps what the probe reads.
 *
 * The GIL itself is found by its creation pattern (gils.c) on every version; only the
 * interpreter id of a sub-interpreter's GIL needs a layout: 3.13+'s, from _Py_DebugOffsets,
 * through the shared table in native/layout/cpython_layout.c, which checks the struct's cookie and
 * version against the running interpreter and refuses a minor version it does not know
 * rather than guess.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "../layout/cpython_layout.h"
#include "probe.h"

int probe_layout_load(probe_layout *layout, char *why, size_t why_size) {
  memset(layout, 0, sizeof *layout);
  layout->minor = -1;
  int major, minor, micro;
  if (!gw_py_version(&major, &minor, &micro)) return 1; /* not CPython (yet): patterns only */
  const char *runtime = dlsym(RTLD_DEFAULT, "_PyRuntime");
  gw_py_layout py;
  char reason[128];
  if (!gw_py_layout_load(&py, major, minor, runtime, reason, sizeof reason)) {
    /* 3.13+ without readable _Py_DebugOffsets: ids fall back to creation order */
    if (major == 3 && minor >= 13 && minor <= GW_PY_MAX_MINOR && (!runtime || memcmp(runtime, "xdebugpy", 8) != 0)) {
      layout->minor = minor;
      return 1;
    }
    snprintf(why, why_size, "CPython %d.%d.%d is not supported (%s); its GIL is not monitored", major, minor, micro,
             reason);
    return 0;
  }
  layout->minor = minor;
  if (!py.from_debug_offsets) return 1;
  layout->runtime = runtime;
  layout->interp_id_offset = py.interp_id;
  layout->gil_locked_offset = py.interp_gil_locked;
  layout->interp_size = py.interp_size;
  layout->free_threaded = py.free_threaded;
  return 1;
}

/* The interpreter whose GIL has its condition variable at `cond`. In struct
 * _gil_runtime_state, `locked` is 16 bytes before `cond` (locked, padding, switch_number)
 * in default and free-threaded builds alike. */
long long probe_layout_interpreter_id(const probe_layout *layout, const char *cond, int ordinal) {
  if (layout->runtime) {
    const char *interp = cond - 16 - layout->gil_locked_offset;
    long long id;
    memcpy(&id, interp + layout->interp_id_offset, sizeof id);
    if (id >= 0 && id < (1ll << 40)) return id;
  }
  return layout->minor >= 12 ? ordinal : -1; /* -1: no payload, like the patch on 3.10/3.11 */
}
