// The shapes of what the native addon returns (native/addon/addon.cc, process_views.cc), of
// what server/store.ts's Store hands on, and of the messages /ws sends the dashboard
// (server/dashboard.ts): defined here once for the server, the dashboard and the tests.
// The column tables of the views' flat numeric rows mirror native/protocol/view_layout.h;
// test/protocol.test.ts proves they agree.
//
// Imported by the dashboard bundle too (dashboard/*.ts): keep it free of Node modules and of
// runtime imports, so it bundles as a few constants.
import type { LimitKind } from '../limits'

// ---- Column tables of the flat rows (view_layout.h) ----

// A timeline item: TIMELINE_ITEM_FIELDS numbers per item, one after the other in a lane's
// `items`. START and END are ns of the process's CLOCK_MONOTONIC from the addon, µs from
// the message's baseNs over /ws; KIND is a LaneKind, plus TIMELINE_OPEN while the range is
// open; COUNT ranges merged into the item cover FILL (0..1) of its span; MESSAGE indexes the
// view's `strings`, whose entry 0 is "": no one name (a density bin, ranges of any name).
export const TimelineItem = { START: 0, END: 1, KIND: 2, COUNT: 3, FILL: 4, MESSAGE: 5 } as const
export const TIMELINE_ITEM_FIELDS = 6
// The row an item is drawn in: GIL holds, GIL waits, any other NVTX range.
export const LaneKind = { HOLD: 0, WAIT: 1, USER: 2 } as const
// eslint-disable-next-line @typescript-eslint/no-redeclare -- a table and its value type, one name
export type LaneKind = typeof LaneKind[keyof typeof LaneKind]
export const TIMELINE_KIND_MASK = 3 // KIND & TIMELINE_KIND_MASK: the LaneKind
export const TIMELINE_OPEN = 16 // KIND & TIMELINE_OPEN: still open

// A slot of one GIL for the charts (a second, or a coarser tier of the history):
// SERIES_COLUMNS numbers per slot in `rows`. WALL: wall clock at the slot's start (ms); HELD:
// seconds held per second (the fraction held); WAITING: thread-seconds waiting per second
// (threads waiting on average); ACQUISITIONS: holds that ended in it per second, and the HOLD_
// percentiles and maximum (s) are theirs (WAIT_ likewise); DROP_REQUESTS: GIL drop requests
// (forced switches) per second; SPAN: the seconds those rates are over (the slot, or the part
// of it the process lived), so rate × SPAN is the count.
export const SeriesColumn = {
  WALL: 0,
  HELD: 1,
  WAITING: 2,
  ACQUISITIONS: 3,
  HOLD_P50: 4,
  HOLD_P99: 5,
  HOLD_MAX: 6,
  WAIT_P50: 7,
  WAIT_P99: 8,
  WAIT_MAX: 9,
  DROP_REQUESTS: 10,
  SPAN: 11
} as const
export const SERIES_COLUMNS = 12

// What the addon's viewLayout() returns: the tables above as compiled.
export interface ViewLayout {
  timelineItem: Record<string, number>
  timelineItemFields: number
  laneKind: Record<string, number>
  timelineKindMask: number
  timelineOpen: number
  seriesColumn: Record<string, number>
  seriesColumns: number
}

// ---- Processes (NativeStore.processes, list, connectionProcess, clock) ----

export type ProcessState = 'connected' | 'disconnected' | 'retired'
// Whether a process's GIL totals are all in (NativeStore::totalsState): "live" while it is
// connected; once it ended, "final" (its last totals arrived, or its shared totals region was
// read), "pending" (its region is read as soon as the process is gone) or "incomplete" (its
// connection ended before its final totals, and there is no region: a TCP connection cut).
export type TotalsState = 'live' | 'final' | 'pending' | 'incomplete'

// A thread's totals for one (domain, message).
export interface RangeTotals {
  domain: string
  message: string
  kind: 'range' | 'mark'
  count: number
  totalNs: number
  maxNs: number
}

// A range pushed and not yet popped, as /api/processes shows it.
export interface OpenRangeSnapshot {
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
  open: OpenRangeSnapshot[]
}

export interface ProcessSnapshot {
  instance: string
  pid: number
  ppid: number
  service: string
  executable: string
  argv: string[]
  totals: TotalsState
  state: ProcessState
  connectedAtMs: number
  clientNowNs: number
  nowMs: number
  droppedEvents: number
  unmatchedPops: number
  rangesReceived: number
  threads: ThreadSnapshot[] // the first IngestLimits.apiThreadsPerProcess that fit apiResponseBytes
  threadsOmitted: number
}

// /api/processes: the processes that fit IngestLimits.apiResponseBytes, and how many did not.
export interface ProcessesView { processes: ProcessSnapshot[], processesOmitted: number }

// A process without its threads (Store.list): the dashboard's process picker.
export interface ProcessListEntry {
  instance: string
  pid: number
  ppid: number
  service: string
  state: ProcessState
  argv: string[]
  totals: TotalsState
  connectedAtMs: number
  droppedEvents: number
  rangesReceived: number
  threads: number // how many
}

// The process behind an ingest connection, once its HELLO arrived.
export interface ConnectionProcess { instance: string, pid: number, service: string }

// A process's clock now, and the wall time it matches.
export interface ProcessClock { nowNs: number, wallMs: number }

// ---- Completed ranges (NativeStore.ranges) ----

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

export interface RangeQuery { thread?: number, sinceNs?: number, offset?: number, limit?: number }

// ---- Counters and /metrics (NativeStore.counters, metrics) ----

export interface StoreCounters {
  rangesReceived: number
  bytesReceived: number
  decodeErrors: number
  connectionsOpen: number
  connectionsTotal: number
  limitOverflows: Record<LimitKind, number>
}

export interface HistogramSnapshot {
  counts: number[] // per bucket (not cumulative); the last: above the largest bound
  count: number
  sum: number // seconds
}

// Seconds of long holds at one site ("module:function" of the holder's innermost Python
// frame; "other" last), by where the holder was.
export interface LongHoldSiteSeconds { site: string, onCpu: number, runqueue: number, blocked: number }

export interface GilMetrics {
  interp: number
  hold: HistogramSnapshot
  wait: HistogramSnapshot
  dropRequests: number
  longHoldSeconds: LongHoldSiteSeconds[]
  contendedSeconds: number
  currentHoldSeconds: number
  waiters: number
}

// tid 0 is the fold of threads beyond the label limit ("other").
export interface ThreadMetrics {
  name: string
  tid: number
  interp: number
  holdSeconds: number
  waitSeconds: number
  contended: number
  uncontended: number
  holdMaxSeconds: number
}

export type RangeMetrics = HistogramSnapshot & { domain: string, message: string }

export interface ProcessMetrics {
  service: string
  pid: number
  connected: boolean
  totals: TotalsState
  droppedEvents: number
  lagSeconds: number
  gils: GilMetrics[]
  threads: ThreadMetrics[]
  ranges: RangeMetrics[]
}

// What NativeStore.metrics() returns.
export interface NativeMetrics {
  processes: ProcessMetrics[]
  // left out by IngestLimits.metricsSeries (whole processes, the largest first)
  processesDropped: number
  seriesDropped: number
}

// What Store.metrics() returns: the above with the counters.
export interface MetricsSnapshot extends NativeMetrics { counters: StoreCounters }

// ---- Long-hold causes (native/injection/sampler.c; words for them: server/shared/cause.ts) ----

// The holder's Python frames, innermost first (python_frames.c).
export interface PythonFrame { function: string, file: string, line: number }

interface CauseBase {
  final: boolean
  // "sampled": the holder was read while the hold lasted; "bracketed": it was not (the
  // sender did not run meanwhile), and the split is the proportions between a reading taken
  // before the hold and the holder's own at its release.
  split: 'sampled' | 'bracketed'
  sampledFromNs: number
  sampledNs: number
  onCpuNs: number
  runqueueNs: number
  blockedNs: number
  majorFaults: number
  samples: number
  frames: PythonFrame[]
  stackDepth: number // Python frames on the holder's stack (saturates at STACK_WALK_LIMIT)
  // Why `frames` is empty, when it is: "locked", the read of the holder's frames waited for
  // the process's memory-map lock the whole hold (itself an answer: msync, a page fault under
  // I/O, an mmap held it); "late", the read was not answered before the hold ended;
  // "unseen", the sampler never saw the hold open (the split is then bracketed).
  framesMissing: 'locked' | 'late' | 'unseen' | null
}

// As the addon builds it: system calls by number.
export interface NativeHoldCause extends CauseBase {
  blockedIn: Array<{ syscall: number, waitSite: string | null, ns: number }>
  others: Array<{ syscall: number, threads: number }>
}

// As the API, the dashboard and the export show it (namedCause).
export interface HoldCause extends CauseBase {
  // syscall: e.g. "msync", "page fault" (blocked outside a system call), "unknown";
  // waitSite: the kernel function the thread slept in (/proc/<tid>/wchan), null if unknown.
  blockedIn: Array<{ syscall: string, waitSite: string | null, ns: number }>
  others: Array<{ syscall: string, threads: number }> // syscall may be "waiting for the GIL"
}

// ---- The dashboard's views of one process (process_views.cc) ----

export interface TimelineLane {
  thread: number
  tid: number
  name: string
  exited: boolean
  items: Float64Array // TIMELINE_ITEM_FIELDS per item (TimelineItem)
}

export interface TimelineView {
  startNs: number
  endNs: number
  nowNs: number
  wallAtStartMs: number
  strings: string[]
  lanes: TimelineLane[]
}

export interface LongHoldWaiter { thread: number, name: string, waitedNs: number }

interface LongHoldWith<Cause> {
  thread: number
  tid: number
  name: string
  interp: number
  startNs: number
  endNs: number
  durationNs: number
  startMs: number
  ongoing: boolean
  waiters: LongHoldWaiter[]
  cause: Cause | null
}
export type NativeLongHold = LongHoldWith<NativeHoldCause>
export type LongHold = LongHoldWith<HoldCause>
// One of the longest holds of a process's whole run (kept by the store, not by the rings):
// `id` names it for its timeline snapshot; `settled` once its waiters, cause and snapshot
// were taken, a second after it ended.
// `hasTimeline`: a snapshot of every thread around it is kept (the 10 longest of a process).
type WorstHoldWith<Cause> = LongHoldWith<Cause> & { id: number, settled: boolean, hasTimeline: boolean, waitersOmitted: number }
export type NativeWorstHold = WorstHoldWith<NativeHoldCause>
export type WorstHold = WorstHoldWith<HoldCause>
// One of a service's worst holds: of which run (process) it is.
export type NativeServiceWorstHold = NativeWorstHold & { instance: string, pid: number }
export type ServiceWorstHold = WorstHold & { instance: string, pid: number }

// The processes of one service (its name and the credentials that started them), oldest first.
export interface ServiceRun { instance: string, pid: number, state: ProcessState, totals: TotalsState, startMs: number, endMs: number | null }
export interface ServiceEntry { id: string, service: string, runs: ServiceRun[] }
// One service's history across its runs: each run's main GIL, whole, from the tier that fits.
export interface ServiceSeries {
  id: string
  service: string
  columns: number // SERIES_COLUMNS
  runs: Array<{ instance: string, pid: number, startMs: number, widthS: number, rows: Float64Array }>
  runsOmitted: number // the oldest runs, past the rows an answer carries
}

export interface SeriesView {
  interp: number
  firstSecond: number
  widthS: number // each row's slot: 1 s, or a coarser tier of the history (a minute, ten)
  columns: number // SERIES_COLUMNS
  rows: Float64Array // `columns` per slot (SeriesColumn): rates per second over the slot
}

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

// A row of the thread table over a range: what the thread did within it. With
// `forgottenThreads`, the row of the threads no longer listed, together (those the server
// forgot, exited a while ago: that many so far; those beyond its thread limit; those the
// process reaped unseen).
export type ThreadShare = Pick<ThreadFigures, 'thread' | 'tid' | 'name' | 'exited' | 'holdNs' | 'waitNs' | 'acquisitions' | 'waits' |
'longestHoldNs' | 'longestHoldStartMs'> & { forgottenThreads?: number }

// The dashboard's thread table: the `limit` threads that held the GIL longest, of `total`
// threads that used it, over `durationNs`: the process's life so far, or (with `widthS`) a
// range of its threads' history from `fromMs`, in whole slots of widthS seconds.
export interface ThreadsView { durationNs: number, total: number, threads: ThreadShare[], fromMs?: number, widthS?: number }

// ---- What `gilwatch run` and `gilwatch report` print for one process ----

interface SummaryHoldWith<Cause> { name: string, tid: number, startMs: number, durationNs: number, cause: Cause | null }

interface ProcessSummaryWith<Cause> {
  instance: string
  pid: number
  ppid: number
  service: string
  argv: string[]
  totals: TotalsState
  startMs: number
  durationNs: number
  droppedEvents: number
  threads: ThreadFigures[]
  longestHolds: Array<SummaryHoldWith<Cause>>
}
export type NativeProcessSummary = ProcessSummaryWith<NativeHoldCause>
export type ProcessSummary = ProcessSummaryWith<HoldCause>

// ---- What /ws sends (server/dashboard.ts) ----

// A TimelineView made compact: ns timestamps become µs offsets from baseNs.
export interface TimelineMessage {
  baseNs: number // absolute ns of offset 0 (the process's monotonic clock)
  wallAtStartMs: number // wall time of baseNs
  endUs: number
  nowUs: number
  strings: string[]
  lanes: Array<Omit<TimelineLane, 'items'> & { items: number[] }> // TimelineItem columns, START and END in µs
}

export interface SeriesMessage { interp: number, columns: number, rows: number[], widthS?: number }

export interface DashboardUpdate {
  type: 'full' | 'update'
  instance: string
  live: boolean
  windowMs: number
  timeline: TimelineMessage
  // at most once a second (and in every 'full')
  series?: SeriesMessage[] // the live 5 minutes: new seconds to add
  seriesRange?: SeriesMessage[] // a longer range (subscribe chartRangeS): the whole of it, to replace
  restartsMs?: number[] // with a service's seriesRange: when each run after the first started
  longHolds?: LongHold[] | null
  worstHolds?: Array<WorstHold & { instance?: string, pid?: number }> | null // the longest of the charts' range, longest first (at most 20); a service's: of its runs
  threads?: ThreadsView | null
}

// `services`: those with more than one run (a restart), to pick as one history.
export type DashboardMessage = { type: 'processes', processes: ProcessListEntry[], services: ServiceEntry[] } | DashboardUpdate
