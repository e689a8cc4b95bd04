// The ingest limits (docs/security.md, "Ingest"). Their defaults are defined once, in
// native/protocol/ingest_limits.h, and read from the addon; this file only types them, merges
// a caller's overrides and reports overflows in the log without flooding it.
import type { Logger } from './log'
import { loadAddon } from './store'

export interface IngestLimits {
  serviceBytes: number
  executableBytes: number
  argvBytes: number
  threadNameBytes: number
  threadsPerProcess: number
  stringsPerProcess: number
  stringBytesPerProcess: number
  rangeKeysPerThread: number
  openRangesPerThread: number
  gilsPerProcess: number
  liveProcesses: number
  connections: number
  bufferedBytes: number
  frameTimeoutMs: number
  definitionBytesPerConnection: number
  helloTimeoutMs: number
  idleTimeoutMs: number
  metricsSeries: number
  apiThreadsPerProcess: number
  apiRangesPerThread: number
  apiResponseBytes: number
}

// The `limit` label values of gilwatch_limit_overflows_total, mirroring LimitKind in the
// header (test/ingest-limits.test.ts checks they agree).
export const limitKinds = [
  'service', 'executable', 'argv', 'thread_name', 'threads', 'strings', 'range_keys', 'open_ranges', 'gils', 'live_processes',
  'connections', 'buffered_bytes', 'frame_timeout', 'definitions', 'hello_timeout', 'idle_timeout', 'metrics_series'
] as const
export type LimitKind = typeof limitKinds[number]

export function defaultIngestLimits (): IngestLimits {
  return loadAddon().ingestLimits()
}

export function resolveIngestLimits (overrides: Partial<IngestLimits> = {}): IngestLimits {
  const limits = defaultIngestLimits()
  for (const [name, value] of Object.entries(overrides)) {
    if (!(name in limits)) throw new Error(`unknown ingest limit ${name}`)
    if (value !== undefined) (limits as unknown as Record<string, number>)[name] = value
  }
  return limits
}

// Logs each kind of overflow the first time it happens, then at most once per interval
// with how many more there were: an attacker repeating one overflow writes one line a minute.
export class OverflowLog {
  private readonly seen = new Map<string, { count: number, loggedAt: number }>()

  constructor (private readonly log: Logger, private readonly intervalMs = 60_000) {}

  update (counts: Record<string, number>, now = Date.now()): void {
    for (const [limit, count] of Object.entries(counts)) {
      const last = this.seen.get(limit)
      const before = last?.count ?? 0
      if (count <= before) continue
      if (last && now - last.loggedAt < this.intervalMs) continue
      this.log.warn(`ingest limit "${limit}" exceeded ${count - before} time(s)` +
        `${last ? ' since the last report' : ''} (gilwatch_limit_overflows_total{limit="${limit}"} = ${count}; docs/security.md)`)
      this.seen.set(limit, { count, loggedAt: now })
    }
  }
}
