/*
 * Which CPython the probe is in, and where that version keeps what the probe reads.
 *
 * The GIL itself is found by its creation pattern (gils.c) on every version; only the
 * interpreter id of a sub-interpreter's GIL needs a layout. 3.13+ publishes its layout in
 * _Py_DebugOffsets at the start of _PyRuntime; that struct changes between minor versions,
 * so the probe knows where the few fields it reads sit in each one it was tested on, checks
 * the struct's cookie and version against the running interpreter, and refuses a minor
 * version it does not know rather than guess.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "probe.h"

#define PROBE_MIN_MINOR 10
#define PROBE_MAX_MINOR 15

/* Byte offsets, inside _Py_DebugOffsets, of the fields read (Include/internal/
 * pycore_debug_offsets.h; pycore_runtime.h in 3.13). 3.14 inserted threads_main before
 * the GIL fields, which moved gil_runtime_state_locked by 8. */
static const struct {
  int minor;
  uint16_t interp_size;
  uint16_t interp_id;
  uint16_t gil_locked;
} debug_offsets_fields[] = {
    {13, 48, 56, 136},
    {14, 48, 56, 144},
    {15, 48, 56, 144},
};

#define DEBUG_OFFSETS_VERSION 8  /* uint64_t version: PY_VERSION_HEX */
#define DEBUG_OFFSETS_FREE_THREADED 16

static int version_of_host(int *major, int *minor, int *micro) {
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

static uint64_t read_u64(const char *at) {
  uint64_t value;
  memcpy(&value, at, sizeof value);
  return value;
}

int probe_layout_load(probe_layout *layout, char *why, size_t why_size) {
  memset(layout, 0, sizeof *layout);
  layout->minor = -1;
  int major, minor, micro;
  if (!version_of_host(&major, &minor, &micro)) return 1; /* not CPython (yet): patterns only */
  if (major != 3 || minor < PROBE_MIN_MINOR || minor > PROBE_MAX_MINOR) {
    snprintf(why, why_size, "CPython %d.%d.%d is not supported (3.%d to 3.%d); its GIL is not monitored", major, minor,
             micro, PROBE_MIN_MINOR, PROBE_MAX_MINOR);
    return 0;
  }
  layout->minor = minor;
  if (minor < 13) return 1;

  const char *runtime = dlsym(RTLD_DEFAULT, "_PyRuntime");
  if (!runtime || memcmp(runtime, "xdebugpy", 8) != 0) return 1; /* ids fall back to creation order */
  uint64_t version = read_u64(runtime + DEBUG_OFFSETS_VERSION);
  if ((int)((version >> 24) & 0xff) != major || (int)((version >> 16) & 0xff) != minor) {
    snprintf(why, why_size, "CPython %d.%d.%d: _Py_DebugOffsets says %d.%d; its GIL is not monitored", major, minor,
             micro, (int)((version >> 24) & 0xff), (int)((version >> 16) & 0xff));
    return 0;
  }
  for (size_t i = 0; i < sizeof debug_offsets_fields / sizeof debug_offsets_fields[0]; i++) {
    if (debug_offsets_fields[i].minor != minor) continue;
    uint64_t size = read_u64(runtime + debug_offsets_fields[i].interp_size);
    uint64_t id = read_u64(runtime + debug_offsets_fields[i].interp_id);
    uint64_t locked = read_u64(runtime + debug_offsets_fields[i].gil_locked);
    if (id + 8 > size || locked + 4 > size || size > (1u << 24)) break; /* not what this version should say */
    layout->runtime = runtime;
    layout->interp_id_offset = id;
    layout->gil_locked_offset = locked;
    layout->interp_size = size;
    layout->free_threaded = read_u64(runtime + DEBUG_OFFSETS_FREE_THREADED) != 0;
    return 1;
  }
  snprintf(why, why_size, "CPython %d.%d.%d: its _Py_DebugOffsets do not read as expected; its GIL is not monitored",
           major, minor, micro);
  return 0;
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
