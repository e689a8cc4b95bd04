/*
 * The probe's shortcut into gilwatch's injection library, in one process: when the NVTX tool
 * that NVTX loaded is gilwatch's, the probe hands it each GIL transition as a plain call
 * instead of building NVTX event attributes for NVTX to dispatch and the injection to parse.
 * Only the probe's ranges on the GIL domain take it; the ranges are the same either way (the
 * same domain, messages and payload, in the same thread's stack), and with any other tool
 * (Nsight Systems) the probe speaks NVTX as before.
 *
 * The injection exports `gilwatch_gil_direct`, which returns the table below once its runtime
 * runs and the GIL domain exists, else NULL. A different `version` means a probe and an
 * injection from different builds: the probe then keeps to NVTX.
 */
#ifndef GILWATCH_GIL_DIRECT_H
#define GILWATCH_GIL_DIRECT_H

#include <stdint.h>

#define GW_GIL_DIRECT_VERSION 1u
#define GW_GIL_DIRECT_SYMBOL  "gilwatch_gil_direct"

/* `interp`: the GIL's interpreter id, the ranges' int64 payload; negative: no payload. */
typedef struct gw_gil_direct {
  uint32_t version;
  void (*hold_begins)(int64_t interp);    /* push "Holding GIL" */
  void (*wait_begins)(int64_t interp);    /* push "Waiting for GIL" */
  void (*range_ends)(void);               /* pop the thread's innermost GIL-domain range */
  void (*drop_requested)(int64_t interp); /* mark "GIL drop request" */
} gw_gil_direct;

typedef const gw_gil_direct *(*gw_gil_direct_fn)(void);

#endif
