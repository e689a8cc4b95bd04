// Prometheus exposition (definitions: docs/metrics.md). The native store has already
// aggregated everything; each scrape reads one snapshot.
//
// prom-client serves its default process metrics and gilwatch's own metrics (custom
// collectors). The per-process and per-thread GIL families are written here directly:
// with 100 processes × 50 threads they are ~40 000 lines, which prom-client's generic
// formatter renders in ~250 ms on this machine and this writer in a small fraction of that
// (npm run bench), because each label set is escaped once and reused by every family.
import { collectDefaultMetrics, Registry } from 'prom-client'
import type { Store } from './store'
import type { GilMetrics, HistogramSnapshot, MetricsSnapshot, ProcessMetrics, ThreadMetrics } from './shared/views'

const escape = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
const labelText = (labels: Record<string, string>) =>
  Object.entries(labels).map(([k, v]) => `${k}="${escape(v)}"`).join(',')

// `thread` label values: the Python/OS name, made unique within the process and GIL.
export function threadLabels (threads: ThreadMetrics[]): string[] {
  const seen = new Map<string, number>()
  for (const t of threads) seen.set(`${t.interp}\u0000${t.name}`, (seen.get(`${t.interp}\u0000${t.name}`) ?? 0) + 1)
  return threads.map((t) => {
    if (t.tid === 0) return 'other'
    const clash = (seen.get(`${t.interp}\u0000${t.name}`) ?? 0) > 1 || t.name === 'other' || t.name === ''
    return clash ? `${t.name} (${t.tid})` : t.name
  })
}

interface Labelled { process: ProcessMetrics, processLabels: string, gilLabels: Map<GilMetrics, string>, threadLabels: string[] }

interface GilFamily {
  name: string
  type: 'counter' | 'gauge' | 'histogram'
  help: string
  write(out: string[], p: Labelled, bounds: string[]): void
}

const perThread = (value: (t: ThreadMetrics) => number) => (out: string[], p: Labelled, _bounds: string[], name: string) =>
  p.process.threads.forEach((t, i) => out.push(`${name}{${p.threadLabels[i]}} ${value(t)}`))

function writeHistogram (out: string[], name: string, labels: string, h: HistogramSnapshot, bounds: string[]): void {
  let cumulative = 0
  for (let i = 0; i < bounds.length; i++) {
    cumulative += h.counts[i]
    out.push(`${name}_bucket{${labels},le="${bounds[i]}"} ${cumulative}`)
  }
  out.push(`${name}_bucket{${labels},le="+Inf"} ${h.count}`)
  out.push(`${name}_sum{${labels}} ${h.sum}`)
  out.push(`${name}_count{${labels}} ${h.count}`)
}

const perGil = (value: (g: GilMetrics) => number) => (out: string[], p: Labelled, _bounds: string[], name: string) =>
  p.process.gils.forEach((g) => out.push(`${name}{${p.gilLabels.get(g)}} ${value(g)}`))

function family (name: string, type: GilFamily['type'], help: string,
  write: (out: string[], p: Labelled, bounds: string[], name: string) => void): GilFamily {
  return { name, type, help, write: (out, p, bounds) => write(out, p, bounds, name) }
}

const gilFamilies: GilFamily[] = [
  family('python_gil_hold_seconds_total', 'counter', 'Time each thread held the GIL, in seconds (completed holds).', perThread((t) => t.holdSeconds)),
  family('python_gil_wait_seconds_total', 'counter', 'Time each thread waited for the GIL, in seconds (completed waits).', perThread((t) => t.waitSeconds)),
  family('python_gil_acquisitions_total', 'counter', 'GIL acquisitions per thread; contended="true" when the thread waited first.', (out, p, _b, name) =>
    p.process.threads.forEach((t, i) => {
      out.push(`${name}{${p.threadLabels[i]},contended="true"} ${t.contended}`)
      out.push(`${name}{${p.threadLabels[i]},contended="false"} ${t.uncontended}`)
    })),
  family('python_gil_hold_duration_seconds', 'histogram', 'Durations of completed GIL holds, per process and GIL.', (out, p, bounds, name) =>
    p.process.gils.forEach((g) => writeHistogram(out, name, p.gilLabels.get(g)!, g.hold, bounds))),
  family('python_gil_wait_duration_seconds', 'histogram', 'Durations of completed GIL waits, per process and GIL.', (out, p, bounds, name) =>
    p.process.gils.forEach((g) => writeHistogram(out, name, p.gilLabels.get(g)!, g.wait, bounds))),
  family('python_gil_hold_max_seconds', 'gauge', 'Longest completed GIL hold per thread within the sliding window (default 60 s).', perThread((t) => t.holdMaxSeconds)),
  family('python_gil_current_hold_seconds', 'gauge', 'Age of the GIL hold in progress at the process\'s last tick (0 when free).', perGil((g) => g.currentHoldSeconds)),
  family('python_gil_waiters', 'gauge', 'Threads waiting for the GIL at the process\'s last tick.', perGil((g) => g.waiters)),
  family('python_gil_contended_seconds_total', 'counter', 'Wall time with at least one thread waiting for the GIL, in seconds.', perGil((g) => g.contendedSeconds)),
  family('python_gil_long_hold_seconds_total', 'counter',
    'Time of holds longer than the threshold (20 ms), by code site (module:function of the holder\'s innermost Python frame; first 20, then "other") and by what the holder was doing: on_cpu, runqueue (runnable, waiting for a CPU), blocked.',
    (out, p, _b, name) => p.process.gils.forEach((g) => g.longHoldSeconds.forEach((s) => {
      const labels = `${p.gilLabels.get(g)},${labelText({ site: s.site })}`
      out.push(`${name}{${labels},cause="on_cpu"} ${s.onCpu}`)
      out.push(`${name}{${labels},cause="runqueue"} ${s.runqueue}`)
      out.push(`${name}{${labels},cause="blocked"} ${s.blocked}`)
    }))),
  family('python_gil_drop_requests_total', 'counter', 'Forced switches: a waiter timed out and asked the holder to drop the GIL.', perGil((g) => g.dropRequests)),
  family('nvtx_range_duration_seconds', 'histogram', 'Durations of other NVTX ranges per process and (domain, message); beyond the first 20 pairs, "(other)".',
    (out, p, bounds, name) => p.process.ranges.forEach((r) =>
      writeHistogram(out, name, `${p.processLabels},${labelText({ domain: r.domain || 'default', message: r.message })}`, r, bounds)))
]

// What the HTTP side knows about its clients (server/start-server.ts wires it).
export interface WebStats {
  webOverflows(): Record<string, number> // server/web-limits.ts, by `limit` label
  clientErrors(): Array<{ surface: string, reason: string, count: number }> // server/client-errors.ts
  logLinesSuppressed(): number
  httpConnections(): number
  dashboardClients(): number
}

const noWebStats: WebStats = { webOverflows: () => ({}), clientErrors: () => [], logLinesSuppressed: () => 0, httpConnections: () => 0, dashboardClients: () => 0 }

// gilwatch's own metrics, through prom-client like its default metrics.
function registerSelfMetrics (registry: Registry, current: () => MetricsSnapshot, web: WebStats): void {
  const add = (name: string, type: 'counter' | 'gauge', help: string,
    values: (s: MetricsSnapshot) => Array<{ labels: Record<string, string>, value: number }>) =>
    registry.registerMetric({ name, help, type, get: async () => ({ name, help, type, values: values(current()), aggregator: 'sum' }) } as any)
  const processLabels = (p: ProcessMetrics) => ({ service: p.service, pid: String(p.pid) })
  add('gilwatch_processes_connected', 'gauge', 'Processes connected to this gilwatch server.',
    (s) => [{ labels: {}, value: s.processes.filter((p) => p.connected).length }])
  add('gilwatch_ranges_received_total', 'counter', 'NVTX ranges and marks received.', (s) => [{ labels: {}, value: s.counters.rangesReceived }])
  add('gilwatch_bytes_received_total', 'counter', 'Bytes received on ingest connections.', (s) => [{ labels: {}, value: s.counters.bytesReceived }])
  add('gilwatch_decode_errors_total', 'counter', 'Ingest connections closed for breaking the protocol.', (s) => [{ labels: {}, value: s.counters.decodeErrors }])
  add('gilwatch_events_dropped_total', 'counter', 'Events a process could not deliver (buffer full, server absent or slow).',
    (s) => s.processes.map((p) => ({ labels: processLabels(p), value: p.droppedEvents })))
  add('gilwatch_process_totals_incomplete', 'gauge', 'Ended processes whose GIL totals did not all arrive (a TCP connection cut before the final totals): their numbers are a lower bound.',
    (s) => s.processes.filter((p) => p.totals === 'incomplete').map((p) => ({ labels: processLabels(p), value: 1 })))
  add('gilwatch_ingest_lag_seconds', 'gauge', 'Wall time from a process writing its last heartbeat to this server reading it.',
    (s) => s.processes.filter((p) => p.connected).map((p) => ({ labels: processLabels(p), value: Math.max(0, p.lagSeconds) })))
  // Every limit a client can run into (docs/security.md): the ingest side's and the web
  // side's, every kind, so a rate of 0 is visible.
  add('gilwatch_limit_overflows_total', 'counter', 'Times a client ran into a limit (text truncated, item dropped, connection refused or closed, or processes left out of a scrape).',
    (s) => Object.entries({ ...s.counters.limitOverflows, ...web.webOverflows() }).map(([limit, value]) => ({ labels: { limit }, value })))
  add('gilwatch_client_errors_total', 'counter', 'Requests and messages refused for not matching their schema, and faults of the server met by one client; each is contained to that client.',
    () => web.clientErrors().map(({ surface, reason, count }) => ({ labels: { surface, reason }, value: count })))
  add('gilwatch_log_lines_suppressed_total', 'counter', 'Log lines about clients left out beyond the per-kind rate (each second summed up in one line).',
    () => [{ labels: {}, value: web.logLinesSuppressed() }])
  add('gilwatch_http_connections', 'gauge', 'Open HTTP connections, WebSockets included.', () => [{ labels: {}, value: web.httpConnections() }])
  add('gilwatch_dashboard_clients', 'gauge', 'Open dashboard WebSockets.', () => [{ labels: {}, value: web.dashboardClients() }])
  add('gilwatch_metrics_series_dropped', 'gauge', 'Series left out of this scrape by the series budget (whole processes, the largest first).',
    (s) => [{ labels: {}, value: s.seriesDropped }])
  add('gilwatch_metrics_processes_dropped', 'gauge', 'Processes left out of this scrape by the series budget.',
    (s) => [{ labels: {}, value: s.processesDropped }])
}

export interface MetricsEndpoint {
  registry: Registry
  contentType: string
  render(): Promise<string>
}

export function createMetrics (store: Store, web: WebStats = noWebStats): MetricsEndpoint {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  // prom-client exposes these gauges with a _total suffix, which promtool (rightly) rejects;
  // the same numbers remain without the suffix (nodejs_active_handles, ...).
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(name)
  }
  let snapshot: MetricsSnapshot | undefined
  const current = () => (snapshot ??= store.metrics())
  registerSelfMetrics(registry, current, web)
  const bounds = store.durationBuckets().map(String)

  return {
    registry,
    contentType: registry.contentType,
    async render () {
      snapshot = undefined
      try {
        const s = current()
        const labelled: Labelled[] = s.processes.map((process) => {
          const processLabels = labelText({ service: process.service, pid: String(process.pid) })
          const names = threadLabels(process.threads)
          return {
            process,
            processLabels,
            gilLabels: new Map(process.gils.map((g) => [g, `${processLabels},interp="${g.interp}"`])),
            threadLabels: process.threads.map((t, i) => `${processLabels},interp="${t.interp}",${labelText({ thread: names[i] })}`)
          }
        })
        const out: string[] = []
        for (const f of gilFamilies) {
          out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`)
          for (const p of labelled) f.write(out, p, bounds)
        }
        out.push('')
        return out.join('\n') + '\n' + await registry.metrics()
      } finally {
        snapshot = undefined
      }
    }
  }
}
