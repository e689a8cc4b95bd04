// Chrome trace event JSON (opens in Perfetto / chrome://tracing): one process per monitored
// process, per thread one track with its GIL holds and waits and one with its other NVTX
// ranges (a separate track: those need not nest with the GIL's).
import fs from 'node:fs'
import { describeCause, describeFrame } from './cause'
import { GIL_DOMAIN } from './gil-names'
import type { Store } from './store'

const USER_TRACK_OFFSET = 10_000_000 // beyond Linux's largest pid: never a real tid

interface TraceEvent { name: string, ph: string, pid: number, tid: number, ts?: number, dur?: number, cat?: string, s?: string, args?: Record<string, unknown> }

export function exportPerfetto (store: Store, out: string): { events: number, processes: number } {
  const events: TraceEvent[] = []
  const processes = store.processes()
  for (const p of processes) {
    events.push({ name: 'process_name', ph: 'M', pid: p.pid, tid: 0, args: { name: `${p.service} (pid ${p.pid})` } })
    for (const t of p.threads) {
      events.push({ name: 'thread_name', ph: 'M', pid: p.pid, tid: t.tid, args: { name: t.name || `tid ${t.tid}` } })
      events.push({ name: 'thread_name', ph: 'M', pid: p.pid, tid: t.tid + USER_TRACK_OFFSET, args: { name: `${t.name || t.tid} NVTX` } })
    }
    // Long holds carry why they were long.
    const causes = new Map((store.longHolds(p.instance, 1, 1e6) ?? []).filter((h) => h.cause).map((h) => [`${h.tid}:${h.startNs}`, h.cause!]))
    for (const r of store.ranges(p.instance) ?? []) {
      const gil = r.domain === GIL_DOMAIN
      const tid = gil ? r.tid : r.tid + USER_TRACK_OFFSET
      const cause = gil ? causes.get(`${r.tid}:${r.startNs}`) : undefined
      const args = r.payload === null && !cause
        ? undefined
        : {
            ...(r.payload === null ? {} : { payload: r.payload }),
            ...(cause ? { why: describeCause(cause), ...(cause.frames.length ? { where: cause.frames.map(describeFrame) } : {}), cause } : {})
          }
      if (r.kind === 'mark') {
        events.push({ name: r.message, ph: 'i', s: 't', pid: p.pid, tid, ts: r.startNs / 1000, cat: r.domain || 'default', args })
      } else {
        events.push({ name: r.message || '(unnamed)', ph: 'X', pid: p.pid, tid, ts: r.startNs / 1000, dur: r.durationNs / 1000, cat: r.domain || 'default', args })
      }
    }
  }
  fs.writeFileSync(out, JSON.stringify({ traceEvents: events, displayTimeUnit: 'ms' }))
  return { events: events.length, processes: processes.length }
}
