// The exit summary of `gilwatch run` (and `gilwatch report`): like `time`, for the GIL.
// Names and causes come from the monitored process: each passes through escapeControl
// (server/log.ts) before it reaches a terminal.
import { describeCause, describeLocation } from '../shared/cause'
import { escapeControl as safe } from '../log'
import type { Store } from '../store'
import type { ProcessSummary } from '../shared/views'

const ms = (ns: number) => (ns >= 1e9 ? `${(ns / 1e9).toFixed(2)} s` : ns >= 1e6 ? `${(ns / 1e6).toFixed(1)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(0)} µs` : `${Math.round(ns)} ns`)
const pct = (part: number, whole: number) => (whole > 0 ? (part / whole * 100).toFixed(1) : '0.0')
const at = (wallMs: number) => {
  const d = new Date(wallMs)
  return `${d.toLocaleTimeString('en-GB', { hour12: false })}.${String(d.getMilliseconds()).padStart(3, '0')}`
}

export interface RunSummary { processes: ProcessSummary[] }

// Summaries of the processes in `pids` and of the processes they started.
export function summarize (store: Store, rootPids: number[], sinceMs = 0): RunSummary {
  const processes = store.list().filter((p) => p.connectedAtMs >= sinceMs - 1000)
  const family = new Set(rootPids)
  for (let grew = true; grew;) {
    grew = false
    for (const p of processes) {
      if (!family.has(p.pid) && family.has(p.ppid)) {
        family.add(p.pid)
        grew = true
      }
    }
  }
  return {
    processes: processes.filter((p) => family.has(p.pid))
      .map((p) => store.summary(p.instance))
      .filter((s): s is ProcessSummary => Boolean(s))
  }
}

function table (rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)))
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd())
}

export function formatSummary (summary: RunSummary): string {
  const out: string[] = []
  for (const p of summary.processes) {
    const held = p.threads.reduce((n, t) => n + t.holdNs, 0)
    const waited = p.threads.reduce((n, t) => n + t.waitNs, 0)
    out.push(`gilwatch: ${safe(p.service)} (pid ${p.pid}) ran ${ms(p.durationNs)}: GIL held ${pct(held, p.durationNs)} % of the time, ` +
      `threads waited ${ms(waited)} in all${p.droppedEvents ? `; ${p.droppedEvents} events were dropped` : ''}`)
    if (p.totals === 'incomplete') out.push('  its GIL totals are incomplete: the connection ended before the last of them arrived; every number is a lower bound')
    if (p.totals === 'pending') out.push('  its final GIL totals are not read yet (the process has not ended): the numbers may still grow')
    const rows = [['thread', 'held %', 'wait %', 'acquisitions', 'longest hold', 'at', 'hold p50/p99', 'wait p50/p99']]
    for (const t of [...p.threads].sort((a, b) => b.holdNs - a.holdNs)) {
      rows.push([
        safe(t.name) || `tid ${t.tid}`,
        pct(t.holdNs, p.durationNs),
        pct(t.waitNs, p.durationNs),
        String(t.acquisitions),
        t.longestHoldNs ? ms(t.longestHoldNs) : '—',
        t.longestHoldNs ? at(t.longestHoldStartMs) : '',
        `${ms(t.holdP50Ns)} / ${ms(t.holdP99Ns)}`,
        t.waits ? `${ms(t.waitP50Ns)} / ${ms(t.waitP99Ns)}` : '—'
      ])
    }
    out.push(...table(rows).map((l) => `  ${l}`))
    if (p.longestHolds.length) {
      out.push('  longest holds:')
      for (const h of p.longestHolds.slice(0, 5)) {
        out.push(`    ${ms(h.durationNs).padStart(9)}  ${safe(h.name)}  at ${at(h.startMs)}${h.cause ? `: ${safe(describeCause(h.cause))}` : ''}`)
        const where = h.cause ? describeLocation(h.cause, 1) : ''
        if (where) out.push(`               ${safe(where)}`)
      }
    }
    out.push('  (percentiles from histogram buckets; a thread waiting while the GIL is held shows in both columns)')
  }
  if (!summary.processes.length) out.push('gilwatch: no GIL ranges arrived from the program (is it a CPython 3.10-3.15 interpreter, or built with NVTX ranges?)')
  return out.join('\n')
}
