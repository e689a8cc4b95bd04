// The names of the GIL's NVTX ranges: the TypeScript mirror of native/protocol/gil_names.h
// (test/protocol.test.ts checks that the two agree).
export const GIL_DOMAIN = 'GIL NVTX Domain'
export const GIL_WAITING = 'Waiting for GIL'
export const GIL_HOLDING = 'Holding GIL'
export const GIL_DROP_REQUEST = 'GIL drop request'
