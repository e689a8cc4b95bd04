// The typed view of what the server knows (the aggregation itself is native/addon/store.cc).
// Metrics, the HTTP API and the dashboard read from here.
import fs from 'node:fs'
import { FORGET_AFTER_MS, MAX_RETIRED_PROCESSES, RETIRE_AFTER_MS, paths } from './config'
import { errors, type DecodeError } from './errors'

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
  ranges: RangeTotals[]
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
  threads: ThreadSnapshot[]
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

export interface StoreCounters {
  rangesReceived: number
  bytesReceived: number
  decodeErrors: number
  connectionsOpen: number
  connectionsTotal: number
}

interface NativeStore {
  openConnection(): number
  feed(connection: number, chunk: Buffer): DecodeError | undefined
  closeConnection(connection: number): void
  connectionProcess(connection: number): { instance: string, pid: number, service: string } | undefined
  processes(): ProcessSnapshot[]
  ranges(instance: string, query?: RangeQuery): CompletedRange[] | null
  sweep(retireAfterMs: number, forgetAfterMs: number, maxRetired: number): void
  counters(): StoreCounters
}

interface NativeAddon {
  Store: new (options: { recentPerThread?: number }) => NativeStore
  protocolLayout(): Record<string, number>
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
  retireAfterMs?: number
  forgetAfterMs?: number
  maxRetired?: number
}

export class Store {
  private readonly native: NativeStore
  private readonly retireAfterMs: number
  private readonly forgetAfterMs: number
  private readonly maxRetired: number
  private sweeper: NodeJS.Timeout | undefined

  constructor (options: StoreOptions = {}) {
    this.native = new (loadAddon().Store)({ recentPerThread: options.recentPerThread })
    this.retireAfterMs = options.retireAfterMs ?? RETIRE_AFTER_MS
    this.forgetAfterMs = options.forgetAfterMs ?? FORGET_AFTER_MS
    this.maxRetired = options.maxRetired ?? MAX_RETIRED_PROCESSES
    this.sweeper = setInterval(() => this.sweep(), 1000)
    this.sweeper.unref()
  }

  // Ingest side: one connection per monitored process (a reconnect continues its process).
  openConnection (): number { return this.native.openConnection() }
  feed (connection: number, chunk: Buffer): DecodeError | undefined { return this.native.feed(connection, chunk) }
  closeConnection (connection: number): void { this.native.closeConnection(connection) }
  connectionProcess (connection: number) { return this.native.connectionProcess(connection) }

  // Read side.
  processes (): ProcessSnapshot[] { return this.native.processes() }
  ranges (instance: string, query: RangeQuery = {}): CompletedRange[] | null {
    return /^[0-9a-f]{16}$/.test(instance) ? this.native.ranges(instance, query) : null
  }

  counters (): StoreCounters { return this.native.counters() }

  sweep (): void { this.native.sweep(this.retireAfterMs, this.forgetAfterMs, this.maxRetired) }

  close (): void {
    if (this.sweeper) clearInterval(this.sweeper)
    this.sweeper = undefined
  }
}
