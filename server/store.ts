// What the server knows, for metrics, the HTTP API and the dashboard: Store wraps the addon's
// NativeStore (native/addon/store.cc does the aggregation), names causes and redacts command
// lines. The shapes it returns are in server/shared/views.ts.
import fs from 'node:fs'
import path from 'node:path'
import { DEFAULT_ARGV_MODE, redactArgv, type ArgvMode } from './argv'
import { FORGET_AFTER_MS, MAX_RETIRED_PROCESSES, RETIRE_AFTER_MS, paths } from './config'
import { namedCause } from './shared/cause'
import { errors, type DecodeError } from './errors'
import type { IngestLimits, LimitKind } from './limits'
import type {
  CompletedRange, ConnectionProcess, LongHold, MetricsSnapshot, NativeLongHold, NativeWorstHold, NativeServiceWorstHold, ServiceEntry, ServiceWorstHold, ServiceSeries, WorstHold, NativeMetrics, NativeProcessSummary,
  ProcessClock, ProcessListEntry, ProcessSnapshot, ProcessesView, ProcessSummary, RangeQuery, SeriesView, StoreCounters, ThreadsView,
  TimelineView, ViewLayout
} from './shared/views'

// The addon's store (native/addon/addon.cc: NativeStoreWrap), as JavaScript sees it.
interface NativeStore {
  openConnection(owner: string, uid?: number, regionDirectory?: string): number
  feed(connection: number, chunk: Buffer, atNs?: number): DecodeError | undefined
  closeConnection(connection: number, atNs?: number): void
  connectionProcess(connection: number): ConnectionProcess | undefined
  bufferedBytes(connection: number): number
  partialSinceNs(connection: number): number
  processes(): ProcessesView
  process(instance: string): ProcessSnapshot | null
  list(): ProcessListEntry[]
  ranges(instance: string, query?: RangeQuery): CompletedRange[] | null
  sweep(retireAfterMs: number, forgetAfterMs: number, maxRetired: number): void
  counters(): StoreCounters
  metrics(): NativeMetrics
  timeline(instance: string, startNs: number, endNs: number, pxNs: number): TimelineView | null
  longHolds(instance: string, thresholdNs: number, limit: number): NativeLongHold[] | null
  worstHolds(instance: string, limit: number): NativeWorstHold[] | null
  worstHoldTimeline(instance: string, id: number): TimelineView | null
  series(instance: string, fromSecond: number): SeriesView[] | null
  seriesRange(instance: string, rangeS: number, maxPoints: number): SeriesView[] | null
  services(): ServiceEntry[]
  serviceSeries(id: string, maxPoints: number, maxRows: number): ServiceSeries | null
  serviceWorstHolds(id: string, limit: number): NativeServiceWorstHold[] | null
  clock(instance: string): ProcessClock | null
  threads(instance: string, limit: number, fromNs?: number, toNs?: number): ThreadsView | null
  summary(instance: string, topHolds: number): NativeProcessSummary | null
  preamble(connection: number): Buffer | null
  countOverflow(limit: LimitKind): void
  settleRegions(): void
  forgetEnded(): number
  scanRegions(directory: string, uid: number): number
}

// The options NativeStoreWrap reads (addon.cc) into a NativeStoreOptions (store.h).
type SeriesTierOptions = { [K in `seriesTier${0 | 1 | 2}${'WidthS' | 'Slots'}`]?: number }
interface NativeStoreOptions extends SeriesTierOptions {
  recentPerThread?: number
  maxThreadLabels?: number
  maxRangeKeys?: number
  holdMaxWindowMs?: number
  keepDefinitions?: boolean
  limits?: Partial<IngestLimits>
}

interface NativeAddon {
  NativeStore: new (options: NativeStoreOptions) => NativeStore
  protocolLayout(): Record<string, number> & { durationBucketsSeconds: number[] }
  viewLayout(): ViewLayout // native/protocol/view_layout.h
  ingestLimits(): IngestLimits // the defaults (native/protocol/ingest_limits.h)
  storeDefaults(): StoreDefaults // NativeStoreOptions' (native/addon/store.h, gil_metrics.h)
  unixPeerUid(fd: number): number // native/addon/peer.h; -1: unknown
  tcpPeerUid(localAddress: string, localPort: number, peerAddress: string, peerPort: number): number
  regionDirectory(socketPath: string): string | null // native/protocol/region_directory.h
}

// Where the processes that report to `socketPath` keep their totals files: beside it, or on
// tmpfs when its directory is on a disk (native/protocol/region_directory.h, which the
// processes run too).
export function regionDirectory (socketPath: string): string {
  return loadAddon().regionDirectory(socketPath) ?? path.dirname(socketPath)
}

// The defaults of the numbers `gilwatch serve` can set, as the addon has them.
export interface StoreDefaults { recentPerThread: number, maxThreadLabels: number, maxRangeKeys: number, holdMaxWindowMs: number }
export function storeDefaults (): StoreDefaults { return loadAddon().storeDefaults() }

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

// Store's options; the first five and `limits` go on to the NativeStore.
export interface StoreOptions {
  recentPerThread?: number
  maxThreadLabels?: number // per process; more threads fold into thread="other"
  maxRangeKeys?: number // nvtx_range_duration_seconds (domain, message) pairs per process
  holdMaxWindowMs?: number // python_gil_hold_max_seconds window
  retireAfterMs?: number
  forgetAfterMs?: number
  maxRetired?: number
  argvMode?: ArgvMode // how much of each command line the views below show (server/argv.ts)
  limits?: Partial<IngestLimits> // over the defaults of native/protocol/ingest_limits.h
  keepDefinitions?: boolean // keep each connection's definitions for a recording's rotation
  // The history's tiers, finest first (default 1 s × 3600, 60 s × 1440, 600 s × 4320):
  // shortened by tests, which cannot wait an hour for the second tier.
  seriesTiers?: Array<{ widthS: number, slots: number }>
  // The threads' history (the thread table of a range): 10 s × 360, 60 s × 1440, 600 s × 4320.
  threadTiers?: Array<{ widthS: number, slots: number }>
  // A replayed recording, looked at as a whole (gilwatch view): its clock is the recording's,
  // so nothing is retired, forgotten or settled by this machine's.
  frozen?: boolean
}

// Tiers as the addon's options: seriesTier0WidthS, seriesTier0Slots, ... (whole, at least 1).
function tierOptions (prefix: string, tiers: Array<{ widthS: number, slots: number }> = []): Record<string, number> {
  return Object.fromEntries(tiers.slice(0, 3).flatMap((tier, i) => [
    [`${prefix}${i}WidthS`, Math.max(1, Math.floor(tier.widthS))], [`${prefix}${i}Slots`, Math.max(1, Math.floor(tier.slots))]]))
}

export class Store {
  private readonly native: NativeStore
  private readonly retireAfterMs: number
  private readonly forgetAfterMs: number
  private readonly maxRetired: number
  private readonly argvMode: ArgvMode
  private sweeper: NodeJS.Timeout | undefined
  private settler: NodeJS.Timeout | undefined

  constructor (options: StoreOptions = {}) {
    this.native = new (loadAddon().NativeStore)({
      recentPerThread: options.recentPerThread,
      maxThreadLabels: options.maxThreadLabels,
      maxRangeKeys: options.maxRangeKeys,
      holdMaxWindowMs: options.holdMaxWindowMs,
      keepDefinitions: options.keepDefinitions,
      limits: options.limits,
      ...tierOptions('seriesTier', options.seriesTiers),
      ...tierOptions('threadTier', options.threadTiers)
    })
    this.retireAfterMs = options.retireAfterMs ?? RETIRE_AFTER_MS
    // As long as the coarsest tier of the history keeps (FORGET_AFTER_MS with the default tiers).
    const coarsest = options.seriesTiers?.[2]
    this.forgetAfterMs = options.forgetAfterMs ?? (coarsest ? coarsest.widthS * coarsest.slots * 1000 : FORGET_AFTER_MS)
    this.maxRetired = options.maxRetired ?? MAX_RETIRED_PROCESSES
    this.argvMode = options.argvMode ?? DEFAULT_ARGV_MODE
    if (options.frozen) return
    this.sweeper = setInterval(() => this.sweep(), 1000)
    this.sweeper.unref()
    // An ended process's region is read as soon as the process is gone (usually at once,
    // at its disconnection; a process that lingers as a zombie, a little later).
    this.settler = setInterval(() => this.native.settleRegions(), 100)
    this.settler.unref()
  }

  // Ingest side: one connection per monitored process (a reconnect continues its process).
  // `owner`: the peer's credentials (server/peer.ts); only the owner that started a process
  // may continue it. On the Unix socket, `uid` (the peer's) and `regionDirectory` (the
  // socket's) locate the process's shared totals region (docs/protocol.md).
  openConnection (owner: string, uid?: number, regionDirectory?: string): number {
    return this.native.openConnection(owner, uid ?? -1, regionDirectory ?? '')
  }

  // Processes that ended while no server followed them, from the regions they left in
  // `directory` (the socket's); processes still running are matched at their HELLO.
  scanRegions (directory: string, uid: number): number { return this.native.scanRegions(directory, uid) }
  // atNs: when the bytes arrived (server CLOCK_MONOTONIC); only a replayed recording passes it.
  feed (connection: number, chunk: Buffer, atNs?: number): DecodeError | undefined { return this.native.feed(connection, chunk, atNs) }
  closeConnection (connection: number, atNs?: number): void { this.native.closeConnection(connection, atNs) }
  preamble (connection: number): Buffer | null { return this.native.preamble(connection) }
  connectionProcess (connection: number): ConnectionProcess | undefined { return this.native.connectionProcess(connection) }
  // Bytes of an incomplete frame a connection holds (server/ingest.ts bounds their sum).
  bufferedBytes (connection: number): number { return this.native.bufferedBytes(connection) }
  // When that incomplete frame began (the server's CLOCK_MONOTONIC, as process.hrtime).
  partialSinceNs (connection: number): number { return this.native.partialSinceNs(connection) }

  // Read side. Every view that carries a command line passes through redact(): the API, the
  // dashboard and run summaries all read from here.
  // Every process that fits IngestLimits.apiResponseBytes (most do: see processesView()).
  processes (): ProcessSnapshot[] { return this.processesView().processes }
  processesView (): ProcessesView {
    const view = this.native.processes()
    view.processes = view.processes.map((p) => this.redact(p))
    return view
  }

  process (instance: string): ProcessSnapshot | null {
    const p = /^[0-9a-f]{16}$/.test(instance) ? this.native.process(instance) : null
    return p && this.redact(p)
  }

  list (): ProcessListEntry[] { return this.native.list().map((p) => this.redact(p)) }
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
  timeline (instance: string, startNs: number, endNs: number, pxNs: number): TimelineView | null { return this.native.timeline(instance, startNs, endNs, pxNs) }
  longHolds (instance: string, thresholdNs: number, limit: number): LongHold[] | null {
    const holds = this.native.longHolds(instance, thresholdNs, limit)
    return holds && holds.map((h) => ({ ...h, cause: namedCause(h.cause) }))
  }

  // The longest holds of the process's whole run, longest first, and the timeline kept
  // around one of them (null: no such process, or no snapshot yet).
  worstHolds (instance: string, limit: number): WorstHold[] | null {
    const holds = this.native.worstHolds(instance, limit)
    return holds && holds.map((h) => ({ ...h, cause: namedCause(h.cause) }))
  }

  worstHoldTimeline (instance: string, id: number): TimelineView | null { return this.native.worstHoldTimeline(instance, id) }

  series (instance: string, fromSecond: number): SeriesView[] | null { return this.native.series(instance, fromSecond) }
  // The last rangeS seconds of the run (0: all of it), from the finest history tier that has
  // them in at most maxPoints rows.
  seriesRange (instance: string, rangeS: number, maxPoints: number): SeriesView[] | null { return this.native.seriesRange(instance, rangeS, maxPoints) }
  // Services: processes grouped by their service name and who started them (a service
  // restarted is one history), and one service's history across its runs.
  services (): ServiceEntry[] { return this.native.services() }
  serviceSeries (id: string, maxPoints: number, maxRows: number): ServiceSeries | null { return this.native.serviceSeries(id, maxPoints, maxRows) }
  // The longest holds of every run of the service, longest first (null: no such service).
  serviceWorstHolds (id: string, limit: number): ServiceWorstHold[] | null {
    const holds = this.native.serviceWorstHolds(id, limit)
    return holds && holds.map((h) => ({ ...h, cause: namedCause(h.cause) }))
  }

  clock (instance: string): ProcessClock | null { return this.native.clock(instance) }
  // Since the process came (exact: its totals), or over the wall-clock span [fromMs, toMs)
  // (its threads' history: whole slots of a tier, ThreadsView.fromMs and widthS say which).
  threads (instance: string, limit: number, span?: { fromMs: number, toMs: number }): ThreadsView | null {
    const clock = span && this.native.clock(instance)
    if (!span || !clock) return this.native.threads(instance, limit)
    const nsOf = (wallMs: number): number => Math.max(0, clock.nowNs + (wallMs - clock.wallMs) * 1e6)
    return this.native.threads(instance, limit, nsOf(span.fromMs), nsOf(span.toMs))
  }

  summary (instance: string, topHolds = 10): ProcessSummary | null {
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

  // The regions of ended processes read now (gilwatch run, once its program has ended).
  settleRegions (): void { this.native.settleRegions() }
  // Every ended process forgotten (a replay that sums them up as they end: gilwatch report).
  forgetEnded (): number { return this.native.forgetEnded() }

  close (): void {
    if (this.sweeper) clearInterval(this.sweeper)
    if (this.settler) clearInterval(this.settler)
    this.sweeper = undefined
    this.settler = undefined
  }
}
