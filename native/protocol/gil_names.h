/*
 * The names of the GIL's NVTX ranges, spelled once for C and C++.
 *
 * The NVTX GIL patch (native/cpython/gil_nvtx.h), the probe (native/probe), the injection
 * library and the server addon all use these; server/gil-names.ts mirrors them for
 * TypeScript and test/protocol.test.ts proves the two agree. They are the names Nsight
 * Systems users already know, so changing one is a protocol change.
 */
#ifndef GILWATCH_GIL_NAMES_H
#define GILWATCH_GIL_NAMES_H

#define GW_GIL_DOMAIN       "GIL NVTX Domain"
#define GW_GIL_WAITING      "Waiting for GIL"  /* push range: contended acquisitions only */
#define GW_GIL_HOLDING      "Holding GIL"      /* push range: `locked = 1` until `locked = 0` */
#define GW_GIL_DROP_REQUEST "GIL drop request" /* mark: a waiter asked the holder to drop */

#endif
