// Chrome trace event JSON (opens in Perfetto / chrome://tracing): one process per monitored
// process, per thread one track with its GIL holds and waits and one with its other NVTX
// ranges (a separate track: those need not nest with the GIL's). Written as it is built, a
// page of ranges at a time; the file is created as every file the CLI writes
// (server/private-file.ts).
import fs from 'node:fs'
import { describeCause, describeFrame } from '../shared/cause'
import { GIL_DOMAIN } from '../gil-names'
import { createPrivateFile } from '../private-file'
import type { Store } from '../store'

const USER_TRACK_OFFSET = 10_000_000 // beyond Linux's largest pid: never a real tid
const RANGES_PER_PAGE = 50_000
const WRITE_BYTES = 1 << 20

interface TraceEvent { name: string, ph: string, pid: number, tid: number, ts?: number, dur?: number, cat?: string, s?: string, args?: Record<string, unknown> }

// Buffers small writes into ~1 MiB ones.
class TraceWriter {
  private parts: string[] = []
  private bytes = 0
  events = 0

  constructor (private readonly fd: number) { this.raw('{"traceEvents":[') }

  event (e: TraceEvent): void {
    this.raw(`${this.events++ ? ',' : ''}${JSON.stringify(e)}`)
  }

  end (): void {
    this.raw('],"displayTimeUnit":"ms"}\n')
    this.flush()
  }

  private raw (text: string): void {
    this.parts.push(text)
    this.bytes += text.length
    if (this.bytes >= WRITE_BYTES) this.flush()
  }

  private flush (): void {
    fs.writeSync(this.fd, this.parts.join(''))
    this.parts = []
    this.bytes = 0
  }
}

// A trace file written as processes are added: `gilwatch export` adds each process when it
// has ended in the replay and then forgets it, so memory stays bounded by the largest
// process, not the recording.
export class PerfettoExport {
  private readonly fd: number
  private readonly trace: TraceWriter
  processes = 0

  constructor (out: string, overwrite = false) {
    this.fd = createPrivateFile(out, { overwrite, what: `--perfetto ${out}` })
    this.trace = new TraceWriter(this.fd)
  }

  get events (): number { return this.trace.events }

  add (store: Store, instance: string): void {
    const p = store.process(instance)
    if (!p) return
    this.processes++
    const trace = this.trace
    trace.event({ name: 'process_name', ph: 'M', pid: p.pid, tid: 0, args: { name: `${p.service} (pid ${p.pid})` } })
    for (const t of p.threads) {
      trace.event({ name: 'thread_name', ph: 'M', pid: p.pid, tid: t.tid, args: { name: t.name || `tid ${t.tid}` } })
      trace.event({ name: 'thread_name', ph: 'M', pid: p.pid, tid: t.tid + USER_TRACK_OFFSET, args: { name: `${t.name || t.tid} NVTX` } })
    }
    // Long holds carry why they were long (the latest causes per thread: bounded).
    const causes = new Map((store.longHolds(p.instance, 1, 1e6) ?? []).filter((h) => h.cause).map((h) => [`${h.tid}:${h.startNs}`, h.cause!]))
    for (let offset = 0; ; offset += RANGES_PER_PAGE) {
      const page = store.ranges(p.instance, { offset, limit: RANGES_PER_PAGE }) ?? []
      for (const r of page) {
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
          trace.event({ name: r.message, ph: 'i', s: 't', pid: p.pid, tid, ts: r.startNs / 1000, cat: r.domain || 'default', args })
        } else {
          trace.event({ name: r.message || '(unnamed)', ph: 'X', pid: p.pid, tid, ts: r.startNs / 1000, dur: r.durationNs / 1000, cat: r.domain || 'default', args })
        }
      }
      if (page.length < RANGES_PER_PAGE) break
    }
  }

  close (): void {
    try {
      this.trace.end()
    } finally {
      fs.closeSync(this.fd)
    }
  }
}
