// The typed view of what the server knows (the aggregation itself is native/addon/store.cc).
// Metrics, the HTTP API and the dashboard read from here.
import fs from 'node:fs'
import { DEFAULT_ARGV_MODE, redactArgv, type ArgvMode } from './argv'
import { FORGET_AFTER_MS, MAX_RETIRED_PROCESSES, RETIRE_AFTER_MS, paths } from './config'
import { type HoldCause, namedCause, type NativeHoldCause } from './cause'
import { errors, type DecodeError } from './errors'
import type { IngestLimits, LimitKind } from './limits'

export type ProcessState = 'connected' | 'disconnected' | 'retired'

export interface RangeTotals {
  domain: string
  message: string
  kind: 'range' | 'mark'
  count: number
  totalNs: number
  maxNs: number
}

export interface OpenRange {
  domain: string
  message: string
  depth: number
  startNs: number // the process's CLOCK_MONOTONIC
  startMs: number // wall clock
  ageNs: number
  payload: number | null
}

export interface ThreadSnapshot {
  id: number
  tid: number
  name: string
  exited: boolean
  ranges: RangeTotals[] // the first IngestLimits.apiRangesPerThread
  rangesOmitted: number
  open: OpenRange[]
}

export interface ProcessSnapshot {
  instance: string
  pid: number
  ppid: number
  service: string
  executable: string
  argv: string[]
  state: ProcessState
  connectedAtMs: number
  clientNowNs: number
  nowMs: number
  droppedEvents: number
  unmatchedPops: number
  rangesReceived: number
  threads: ThreadSnapshot[] // the first IngestLimits.apiThreadsPerProcess
  threadsOmitted: number
}

// A process without its threads (Store.list).
export interface ProcessInfo {
  instance: string
  pid: number
  ppid: number
  service: string
  state: ProcessState
  argv: string[]
  connectedAtMs: number
  droppedEvents: number
  rangesReceived: number
  threads: number
}

export interface CompletedRange {
  thread: number
  tid: number
  domain: string
  message: string
  kind: 'range' | 'mark'
  depth: number
  startNs: number
  endNs: number
  durationNs: number
  startMs: number
  closedBy: 'pop' | 'thread-exit' | 'disconnect'
  payload: number | null
}

export interface RangeQuery { thread?: number, sinceNs?: number, limit?: number }

export interface HistogramSnapshot { counts: number[], count: number, sum: number }

export interface MetricsSnapshot {
  counters: StoreCounters
  // left out by IngestLimits.metricsSeries (whole processes, the largest first)
  processesDropped: number
  seriesDropped: number
  processes: Array<{
    service: string
    pid: number
    connected: boolean
    droppedEvents: number
    lagSeconds: number
    gils: Array<{
      interp: number
      hold: HistogramSnapshot
      wait: HistogramSnapshot
      dropRequests: number
      // by site ("module:function" of the holder's innermost Python frame); "other" last
      longHoldSeconds: Array<{ site: string, onCpu: number, runqueue: number, blocked: number }>
      contendedSeconds: number
      currentHoldSeconds: number
      waiters: number
    }>
    // tid 0 is the fold of threads beyond the label limit ("other")
    threads: Array<{
      name: string
      tid: number
      interp: number
      holdSeconds: number
      waitSeconds: number
      contended: number
      uncontended: number
      holdMaxSeconds: number
    }>
    ranges: Array<HistogramSnapshot & { domain: string, message: string }>
  }>
}

// The dashboard's views (native/addon/dashboard_views.cc).
export interface TimelineView {
  startNs: number
  endNs: number
  nowNs: number
  wallAtStartMs: number
  strings: string[]
  // items: [start ns, end ns, kind (0 hold, 1 wait, 2 user; +16 open), count, fill 0..1, message index] × n
  lanes: Array<{ thread: number, tid: number, name: string, exited: boolean, items: Float64Array }>
}

export interface LongHold {
  thread: number
  tid: number
  name: string
  interp: number
  startNs: number
  endNs: number
  durationNs: number
  startMs: number
  ongoing: boolean
  waiters: Array<{ thread: number, name: string, waitedNs: number }>
  cause: HoldCause | null
}

// rows: per second [wall ms, held s, waiting thread-s, acquisitions, hold p50, p99, max, wait p50, p99, max, forced switches]
export interface SeriesView { interp: number, firstSecond: number, columns: number, rows: Float64Array }

// One thread's GIL figures since its process connected, all GILs together (exact: from the
// totals the process sends): a row of the run summary and of the dashboard's thread table.
export interface ThreadFigures {
  thread: number
  tid: number
  name: string
  exited: boolean
  holdNs: number
  waitNs: number
  acquisitions: number
  waits: number
  longestHoldNs: number
  longestHoldStartMs: number // wall time; 0 without a hold
  holdP50Ns: number
  holdP99Ns: number
  waitP50Ns: number
  waitP99Ns: number
}

// The dashboard's thread table: the `limit` threads that held the GIL longest, of `total`
// threads that used it, over the process's `durationNs` so far.
export interface ThreadsView { durationNs: number, total: number, threads: ThreadFigures[] }

// What `gilwatch run` and `gilwatch report` print for one process.
export interface ProcessSummary {
  instance: string
  pid: number
  ppid: number
  service: string
  argv: string[]
  startMs: number
  durationNs: number
  droppedEvents: number
  threads: ThreadFigures[]
  longestHolds: Array<{ name: string, tid: number, startMs: number, durationNs: number, cause: HoldCause | null }>
}

export interface StoreCounters {
  rangesReceived: number
  bytesReceived: number
  decodeErrors: number
  connectionsOpen: number
  connectionsTotal: number
  limitOverflows: Record<LimitKind, number>
}

// A view as the addon builds it: causes with system call numbers (namedCause names them).
type Native<T> = T extends { cause: HoldCause | null } ? Omit<T, 'cause'> & { cause: NativeHoldCause | null }
  : T extends { longestHolds: Array<infer H> } ? Omit<T, 'longestHolds'> & { longestHolds: Array<Native<H>> } : T

interface NativeStore {
  openConnection(): number
  feed(connection: number, chunk: Buffer, atNs?: number): DecodeError | undefined
  closeConnection(connection: number, atNs?: number): void
  connectionProcess(connection: number): { instance: string, pid: number, service: string } | undefined
  processes(): ProcessSnapshot[]
  list(): ProcessInfo[]
  ranges(instance: string, query?: RangeQuery): CompletedRange[] | null
  sweep(retireAfterMs: number, forgetAfterMs: number, maxRetired: number): void
  counters(): StoreCounters
  metrics(): Omit<MetricsSnapshot, 'counters'>
  timeline(instance: string, startNs: number, endNs: number, pxNs: number): TimelineView | null
  longHolds(instance: string, thresholdNs: number, limit: number): Array<Native<LongHold>> | null
  series(instance: string, fromSecond: number): SeriesView[] | null
  clock(instance: string): { nowNs: number, wallMs: number } | null
  threads(instance: string, limit: number): ThreadsView | null
  summary(instance: string, topHolds: number): Native<ProcessSummary> | null
  preamble(connection: number): Buffer | null
  countOverflow(limit: LimitKind): void
}

interface NativeAddon {
  Store: new (options: {
    recentPerThread?: number, maxThreadLabels?: number, maxRangeKeys?: number, holdMaxWindowMs?: number,
    keepDefinitions?: boolean, limits?: Partial<IngestLimits>
  }) => NativeStore
  protocolLayout(): Record<string, number> & { durationBucketsSeconds: number[] }
  ingestLimits(): IngestLimits // the defaults (native/addon/ingest_limits.h)
}

let addon: NativeAddon | undefined
export function loadAddon (): NativeAddon {
  if (!addon) {
    if (!fs.existsSync(paths.addon)) {
      throw errors.missingBuild(`${paths.addon} is missing: run \`npm install\` (it builds the native parts)`)
    }
    addon = require(paths.addon) as NativeAddon
  }
  return addon
}

export interface StoreOptions {
  recentPerThread?: number
  maxThreadLabels?: number // per process; more threads fold into thread="other"
  maxRangeKeys?: number // nvtx_range_duration_seconds (domain, message) pairs per process
  holdMaxWindowMs?: number // python_gil_hold_max_seconds window
  retireAfterMs?: number
  forgetAfterMs?: number
  maxRetired?: number
  argvMode?: ArgvMode // how much of each command line the views below show (server/argv.ts)
  limits?: Partial<IngestLimits> // over the defaults of native/addon/ingest_limits.h
  keepDefinitions?: boolean // keep each connection's definitions for a recording's rotation
}

export class Store {
  private readonly native: NativeStore
  private readonly retireAfterMs: number
  private readonly forgetAfterMs: number
  private readonly maxRetired: number
  private readonly argvMode: ArgvMode
  private sweeper: NodeJS.Timeout | undefined

  constructor (options: StoreOptions = {}) {
    this.native = new (loadAddon().Store)({
      recentPerThread: options.recentPerThread,
      maxThreadLabels: options.maxThreadLabels,
      maxRangeKeys: options.maxRangeKeys,
      holdMaxWindowMs: options.holdMaxWindowMs,
      keepDefinitions: options.keepDefinitions,
      limits: options.limits
    })
    this.retireAfterMs = options.retireAfterMs ?? RETIRE_AFTER_MS
    this.forgetAfterMs = options.forgetAfterMs ?? FORGET_AFTER_MS
    this.maxRetired = options.maxRetired ?? MAX_RETIRED_PROCESSES
    this.argvMode = options.argvMode ?? DEFAULT_ARGV_MODE
    this.sweeper = setInterval(() => this.sweep(), 1000)
    this.sweeper.unref()
  }

  // Ingest side: one connection per monitored process (a reconnect continues its process).
  openConnection (): number { return this.native.openConnection() }
  // atNs: when the bytes arrived (server CLOCK_MONOTONIC); only a replayed recording passes it.
  feed (connection: number, chunk: Buffer, atNs?: number): DecodeError | undefined { return this.native.feed(connection, chunk, atNs) }
  closeConnection (connection: number, atNs?: number): void { this.native.closeConnection(connection, atNs) }
  preamble (connection: number): Buffer | null { return this.native.preamble(connection) }
  connectionProcess (connection: number) { return this.native.connectionProcess(connection) }

  // Read side. Every view that carries a command line passes through redact(): the API, the
  // dashboard and run summaries all read from here.
  processes (): ProcessSnapshot[] { return this.native.processes().map((p) => this.redact(p)) }
  list (): ProcessInfo[] { return this.native.list().map((p) => this.redact(p)) }
  ranges (instance: string, query: RangeQuery = {}): CompletedRange[] | null {
    return /^[0-9a-f]{16}$/.test(instance) ? this.native.ranges(instance, query) : null
  }

  counters (): StoreCounters { return this.native.counters() }
  metrics (): MetricsSnapshot {
    const processes = this.native.metrics() // first: it may count a metrics_series overflow
    return { counters: this.native.counters(), ...processes }
  }
  // An overflow of a limit enforced in JavaScript (server/ingest.ts), counted with the rest.
  countOverflow (limit: LimitKind): void { this.native.countOverflow(limit) }
  durationBuckets (): number[] { return loadAddon().protocolLayout().durationBucketsSeconds }

  // Dashboard views of one process (null for an unknown instance).
  timeline (instance: string, startNs: number, endNs: number, pxNs: number) { return this.native.timeline(instance, startNs, endNs, pxNs) }
  longHolds (instance: string, thresholdNs: number, limit: number): LongHold[] | null {
    const holds = this.native.longHolds(instance, thresholdNs, limit)
    return holds && holds.map((h) => ({ ...h, cause: namedCause(h.cause) }))
  }
  series (instance: string, fromSecond: number) { return this.native.series(instance, fromSecond) }
  clock (instance: string) { return this.native.clock(instance) }
  threads (instance: string, limit: number): ThreadsView | null { return this.native.threads(instance, limit) }
  summary (instance: string, topHolds = 10) {
    const native = this.native.summary(instance, topHolds)
    if (!native) return null
    const summary: ProcessSummary = { ...native, longestHolds: native.longestHolds.map((h) => ({ ...h, cause: namedCause(h.cause) })) }
    return this.redact(summary)
  }

  // The addon builds a new object per call, so changing it in place is safe.
  private redact<T extends { argv: string[] }> (view: T): T {
    view.argv = redactArgv(view.argv, this.argvMode)
    return view
  }

  sweep (): void { this.native.sweep(this.retireAfterMs, this.forgetAfterMs, this.maxRetired) }

  close (): void {
    if (this.sweeper) clearInterval(this.sweeper)
    this.sweeper = undefined
  }
}
