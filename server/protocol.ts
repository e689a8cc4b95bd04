// The gilwatch wire protocol for TypeScript: a mirror of native/protocol/gilwatch_protocol.h
// (test/protocol.test.ts proves they agree) and encoders for every frame. The server decodes
// in the native addon; these encoders serve tests, tools and recordings. See docs/protocol.md.

export const MAGIC = 0x574c4947 // "GILW"
export const VERSION = 4
export const MAX_FRAME_BODY = 1 << 20
export const FRAME_ALIGN = 8
export const MAX_DOMAINS = 256
export const MAX_STRINGS = 16384
export const MAX_THREADS = 0xFFFFFFFF
export const MAX_STRING_BYTES = 1024
export const DEFAULT_DOMAIN = 0 // NVTX's default domain (no name)
export const NO_MESSAGE = 0
export const CAUSE_SYSCALLS = 4
export const CAUSE_OTHERS = 4
export const CAUSE_FRAMES = 8 // the holder's innermost Python frames in a HOLD_CAUSE
export const STACK_WALK_LIMIT = 128 // a HOLD_CAUSE's stackDepth saturates here
export const SYSCALL_NONE = -1 // blocked outside a system call: a page fault
export const SYSCALL_UNKNOWN = -2
export const SYSCALL_GIL_WAIT = -3 // "others" only: waiting for the GIL
export const MAX_TOKEN_BYTES = 256 // an AUTH frame's token, before padding
export const RETIRED_THREADS = 0 // GIL_TOTALS of every exited thread
export const GIL_SLOTS = 4
export const DURATION_BUCKETS = 20
export const STATE_GILS = 4 // GIL_STATE: GILs listed
export const STATE_OPEN = 256 // GIL_STATE: open ranges listed
export const OpenKind = { HOLD: 1, WAIT: 2 } as const

export const FrameType = { HELLO: 1, STRING: 2, THREAD: 3, RECORDS: 4, STATUS: 5, THREAD_EXIT: 6, HOLD_CAUSE: 7, GIL_TOTALS: 8, AUTH: 9, GIL_STATE: 11, THREAD_FOLDED: 12 } as const
export const StringKind = { DOMAIN: 1, MESSAGE: 2, CATEGORY: 3 } as const
export const RecordKind = { RANGE: 1, OPEN: 2, START: 3, END: 4, MARK: 5 } as const
export const PayloadType = { NONE: 0, UINT64: 1, INT64: 2, DOUBLE: 3 } as const
export const RecordFlag = { CLOSED_BY_THREAD_EXIT: 1 } as const
export const CauseFlag = { FINAL: 1, FRAMES_LOCKED: 2, FRAMES_LATE: 4, BRACKETED: 8, FRAMES_UNSEEN: 16 } as const
export const StatusFlag = { RECONNECTING: 1, FINAL: 2 } as const

// Byte offsets of every field, and each struct's size.
export const layout = {
  frameHeader: { size: 8, length: 0, type: 4 },
  hello: {
    size: 48,
    magic: 0,
    version: 4,
    recordSize: 6,
    pid: 8,
    ppid: 12,
    instance: 16,
    monotonicNs: 24,
    realtimeNs: 32,
    serviceLength: 40,
    executableLength: 42,
    argvLength: 44
  },
  string: { size: 16, id: 0, domain: 4, kind: 8, length: 10 },
  threadInfo: { size: 16, thread: 0, tid: 4, nameLength: 8 },
  threadExit: { size: 16, thread: 0, timeNs: 8 },
  threadFolded: { size: 8, thread: 0 },
  recordsHeader: { size: 8, thread: 0, count: 4 },
  record: {
    size: 40,
    kind: 0,
    payloadType: 1,
    depth: 2,
    flags: 3,
    message: 4,
    domain: 8,
    aux: 12,
    startNs: 16,
    endNs: 24,
    payload: 32
  },
  status: { size: 32, sentNs: 0, droppedEvents: 8, unmatchedPops: 16, threads: 24, flags: 28 },
  gilTotalsHeader: { size: 8, thread: 0, count: 4 },
  gilStateHeader: { size: 24, gils: 0, open: 4, openOmitted: 8, nowNs: 16 },
  gilContention: { size: 24, interp: 0, contendedNs: 8, waiters: 16 },
  gilOpen: { size: 24, thread: 0, kind: 4, interp: 8, startNs: 16 },
  gilTotals: {
    size: 416,
    interp: 0,
    holds: 8,
    contendedHolds: 16,
    holdNs: 24,
    waits: 32,
    waitNs: 40,
    dropRequests: 48,
    longestHoldNs: 56,
    longestHoldStartNs: 64,
    longestWaitNs: 72,
    holdBuckets: 80,
    waitBuckets: 248
  },
  causeSyscall: { size: 16, syscall: 0, waitSite: 4, ns: 8 },
  causeOthers: { size: 8, syscall: 0, threadSamples: 4 },
  pythonFrame: { size: 16, function: 0, file: 4, line: 8 },
  holdCause: {
    size: 304,
    thread: 0,
    flags: 4,
    startNs: 8,
    interp: 16,
    sampledFromNs: 24,
    sampledToNs: 32,
    onCpuNs: 40,
    runqueueNs: 48,
    blockedNs: 56,
    majorFaults: 64,
    samples: 68,
    otherSamples: 72,
    frameCount: 76,
    stackDepth: 78,
    blockedIn: 80,
    others: 144,
    frames: 176
  }
} as const

export const padded = (n: number): number => (n + FRAME_ALIGN - 1) & ~(FRAME_ALIGN - 1)

export function encodeFrame (type: number, body: Buffer): Buffer {
  const length = padded(body.length)
  const frame = Buffer.alloc(layout.frameHeader.size + length)
  frame.writeUInt32LE(length, layout.frameHeader.length)
  frame.writeUInt16LE(type, layout.frameHeader.type)
  body.copy(frame, layout.frameHeader.size)
  return frame
}

export interface Hello {
  pid: number
  ppid?: number
  instance: bigint
  monotonicNs: bigint
  realtimeNs: bigint
  service: string
  executable?: string
  argv?: string[]
}

export function encodeHello (hello: Hello): Buffer {
  const L = layout.hello
  const service = Buffer.from(hello.service)
  const executable = Buffer.from(hello.executable ?? '')
  const argv = Buffer.from((hello.argv ?? []).map((a) => `${a}\0`).join(''))
  const fixed = Buffer.alloc(L.size)
  fixed.writeUInt32LE(MAGIC, L.magic)
  fixed.writeUInt16LE(VERSION, L.version)
  fixed.writeUInt16LE(layout.record.size, L.recordSize)
  fixed.writeUInt32LE(hello.pid, L.pid)
  fixed.writeUInt32LE(hello.ppid ?? 0, L.ppid)
  fixed.writeBigUInt64LE(hello.instance, L.instance)
  fixed.writeBigUInt64LE(hello.monotonicNs, L.monotonicNs)
  fixed.writeBigUInt64LE(hello.realtimeNs, L.realtimeNs)
  fixed.writeUInt16LE(service.length, L.serviceLength)
  fixed.writeUInt16LE(executable.length, L.executableLength)
  fixed.writeUInt32LE(argv.length, L.argvLength)
  return encodeFrame(FrameType.HELLO, Buffer.concat([fixed, service, executable, argv]))
}

export function encodeString (kind: number, id: number, text: string, domain = 0): Buffer {
  const L = layout.string
  const bytes = Buffer.from(text)
  const fixed = Buffer.alloc(L.size)
  fixed.writeUInt32LE(id, L.id)
  fixed.writeUInt32LE(domain, L.domain)
  fixed.writeUInt16LE(kind, L.kind)
  fixed.writeUInt16LE(bytes.length, L.length)
  return encodeFrame(FrameType.STRING, Buffer.concat([fixed, bytes]))
}

export function encodeThread (thread: number, tid: number, name: string): Buffer {
  const L = layout.threadInfo
  const bytes = Buffer.from(name)
  const fixed = Buffer.alloc(L.size)
  fixed.writeUInt32LE(thread, L.thread)
  fixed.writeUInt32LE(tid, L.tid)
  fixed.writeUInt16LE(bytes.length, L.nameLength)
  return encodeFrame(FrameType.THREAD, Buffer.concat([fixed, bytes]))
}

export interface WireRecord {
  kind: number
  message?: number
  domain?: number
  aux?: number
  depth?: number
  flags?: number
  payloadType?: number
  payload?: bigint
  startNs?: bigint
  endNs?: bigint
}

export function writeRecord (out: Buffer, offset: number, r: WireRecord): void {
  const L = layout.record
  out.writeUInt8(r.kind, offset + L.kind)
  out.writeUInt8(r.payloadType ?? PayloadType.NONE, offset + L.payloadType)
  out.writeUInt8(r.depth ?? 0, offset + L.depth)
  out.writeUInt8(r.flags ?? 0, offset + L.flags)
  out.writeUInt32LE(r.message ?? 0, offset + L.message)
  out.writeUInt32LE(r.domain ?? 0, offset + L.domain)
  out.writeUInt32LE(r.aux ?? 0, offset + L.aux)
  out.writeBigUInt64LE(r.startNs ?? 0n, offset + L.startNs)
  out.writeBigUInt64LE(r.endNs ?? 0n, offset + L.endNs)
  out.writeBigUInt64LE(r.payload ?? 0n, offset + L.payload)
}

export function encodeRecords (thread: number, records: WireRecord[]): Buffer {
  const H = layout.recordsHeader
  const body = Buffer.alloc(H.size + records.length * layout.record.size)
  body.writeUInt32LE(thread, H.thread)
  body.writeUInt32LE(records.length, H.count)
  records.forEach((r, i) => writeRecord(body, H.size + i * layout.record.size, r))
  return encodeFrame(FrameType.RECORDS, body)
}

export function encodeStatus (sentNs: bigint, droppedEvents = 0n, unmatchedPops = 0n, threads = 0, flags = 0): Buffer {
  const L = layout.status
  const body = Buffer.alloc(L.size)
  body.writeBigUInt64LE(sentNs, L.sentNs)
  body.writeBigUInt64LE(droppedEvents, L.droppedEvents)
  body.writeBigUInt64LE(unmatchedPops, L.unmatchedPops)
  body.writeUInt32LE(threads, L.threads)
  body.writeUInt32LE(flags, L.flags)
  return encodeFrame(FrameType.STATUS, body)
}

export function encodeThreadExit (thread: number, timeNs: bigint): Buffer {
  const L = layout.threadExit
  const body = Buffer.alloc(L.size)
  body.writeUInt32LE(thread, L.thread)
  body.writeBigUInt64LE(timeNs, L.timeNs)
  return encodeFrame(FrameType.THREAD_EXIT, body)
}

export function encodeThreadFolded (thread: number): Buffer {
  const body = Buffer.alloc(layout.threadFolded.size)
  body.writeUInt32LE(thread, layout.threadFolded.thread)
  return encodeFrame(FrameType.THREAD_FOLDED, body)
}

// The ingest token, first on a connection to a server started with --ingest-token-file.
export function encodeAuth (token: string): Buffer {
  return encodeFrame(FrameType.AUTH, Buffer.from(token))
}

export interface HoldCauseInit {
  thread: number
  final?: boolean
  startNs: bigint
  interp?: bigint
  sampledFromNs?: bigint
  sampledToNs?: bigint
  onCpuNs?: bigint
  runqueueNs?: bigint
  blockedNs?: bigint
  majorFaults?: number
  samples?: number
  otherSamples?: number
  blockedIn?: Array<{ syscall: number, waitSite?: number, ns: bigint }>
  others?: Array<{ syscall: number, threadSamples: number }>
  frames?: Array<{ function: number, file: number, line: number }> // message ids, innermost first
  stackDepth?: number
}

// Cumulative GIL totals of one thread (or RETIRED_THREADS), one entry per GIL.
export interface GilTotalsInit {
  interp?: bigint
  holds?: bigint
  contendedHolds?: bigint
  holdNs?: bigint
  waits?: bigint
  waitNs?: bigint
  dropRequests?: bigint
  longestHoldNs?: bigint
  longestHoldStartNs?: bigint
  longestWaitNs?: bigint
  holdBuckets?: bigint[] // DURATION_BUCKETS + 1 counts
  waitBuckets?: bigint[]
}

export function encodeGilTotals (thread: number, entries: GilTotalsInit[]): Buffer {
  const L = layout.gilTotals
  const body = Buffer.alloc(layout.gilTotalsHeader.size + entries.length * L.size)
  body.writeUInt32LE(thread, layout.gilTotalsHeader.thread)
  body.writeUInt32LE(entries.length, layout.gilTotalsHeader.count)
  entries.forEach((e, i) => {
    const at = layout.gilTotalsHeader.size + i * L.size
    body.writeBigInt64LE(e.interp ?? 0n, at + L.interp)
    const fields = ['holds', 'contendedHolds', 'holdNs', 'waits', 'waitNs', 'dropRequests', 'longestHoldNs', 'longestHoldStartNs', 'longestWaitNs'] as const
    for (const field of fields) body.writeBigUInt64LE(e[field] ?? 0n, at + L[field])
    for (let b = 0; b <= DURATION_BUCKETS; b++) {
      body.writeBigUInt64LE(e.holdBuckets?.[b] ?? 0n, at + L.holdBuckets + 8 * b)
      body.writeBigUInt64LE(e.waitBuckets?.[b] ?? 0n, at + L.waitBuckets + 8 * b)
    }
  })
  return encodeFrame(FrameType.GIL_TOTALS, body)
}

export function encodeHoldCause (c: HoldCauseInit): Buffer {
  const L = layout.holdCause
  const body = Buffer.alloc(L.size)
  body.writeUInt32LE(c.thread, L.thread)
  body.writeUInt32LE(c.final ? CauseFlag.FINAL : 0, L.flags)
  body.writeBigUInt64LE(c.startNs, L.startNs)
  body.writeBigInt64LE(c.interp ?? 0n, L.interp)
  body.writeBigUInt64LE(c.sampledFromNs ?? 0n, L.sampledFromNs)
  body.writeBigUInt64LE(c.sampledToNs ?? 0n, L.sampledToNs)
  body.writeBigUInt64LE(c.onCpuNs ?? 0n, L.onCpuNs)
  body.writeBigUInt64LE(c.runqueueNs ?? 0n, L.runqueueNs)
  body.writeBigUInt64LE(c.blockedNs ?? 0n, L.blockedNs)
  body.writeUInt32LE(c.majorFaults ?? 0, L.majorFaults)
  body.writeUInt32LE(c.samples ?? 0, L.samples)
  body.writeUInt32LE(c.otherSamples ?? 0, L.otherSamples)
  ;(c.blockedIn ?? []).slice(0, CAUSE_SYSCALLS).forEach((b, i) => {
    body.writeInt32LE(b.syscall, L.blockedIn + i * layout.causeSyscall.size + layout.causeSyscall.syscall)
    body.writeUInt32LE(b.waitSite ?? 0, L.blockedIn + i * layout.causeSyscall.size + layout.causeSyscall.waitSite)
    body.writeBigUInt64LE(b.ns, L.blockedIn + i * layout.causeSyscall.size + layout.causeSyscall.ns)
  })
  const frames = (c.frames ?? []).slice(0, CAUSE_FRAMES)
  body.writeUInt16LE(frames.length, L.frameCount)
  body.writeUInt16LE(c.stackDepth ?? frames.length, L.stackDepth)
  frames.forEach((f, i) => {
    const at = L.frames + i * layout.pythonFrame.size
    body.writeUInt32LE(f.function, at + layout.pythonFrame.function)
    body.writeUInt32LE(f.file, at + layout.pythonFrame.file)
    body.writeInt32LE(f.line, at + layout.pythonFrame.line)
  })
  ;(c.others ?? []).slice(0, CAUSE_OTHERS).forEach((o, i) => {
    body.writeInt32LE(o.syscall, L.others + i * layout.causeOthers.size + layout.causeOthers.syscall)
    body.writeUInt32LE(o.threadSamples, L.others + i * layout.causeOthers.size + layout.causeOthers.threadSamples)
  })
  return encodeFrame(FrameType.HOLD_CAUSE, body)
}
