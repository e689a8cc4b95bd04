// The gilwatch live dashboard: wires the connection, the process picker, tiles, charts,
// thread table, timeline and long-holds table together.
import 'uplot/dist/uPlot.min.css'
import './style.css'
import { LaneKind, SeriesColumn, type DashboardMessage, type LongHold, type ProcessListEntry, type ServiceEntry, type WorstHold } from '../server/shared/views'
import { Charts } from './charts'
import { Connection } from './connection'
import { clock, duration, percent } from './format'
import { renderLongHolds } from './longholds'
import { renderThreads } from './threads'
import { renderTiles } from './tiles'
import { TimelineCanvas, TimelineModel } from './timeline'

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T
const params = new URLSearchParams(location.search)

const state = {
  processes: [] as ProcessListEntry[],
  selected: params.get('instance') as string | null, // null: the newest connected process
  shown: null as string | null, // the process the page currently displays
  paused: false,
  windowMs: 20_000,
  longHoldMs: Number(params.get('longHoldMs') ?? 50),
  longHolds: [] as LongHold[],
  worstHolds: [] as Array<WorstHold & { instance?: string }>, // a service's name their run
  holdsShown: 'latest' as 'latest' | 'worst',
  chartRangeS: 300, // 300: the live 5 minutes; else that much of the history (0: the whole run)
  service: null as string | null, // a service's id: its newest run, the charts across its runs
  worstHoldShown: undefined as number | undefined, // the timeline shows its kept snapshot
  messages: 0,
  lastMessageBytes: 0
}

const model = new TimelineModel()
const charts = new Charts(() => {
  renderZoom()
  resubscribe()
})
const timeline = new TimelineCanvas($('timeline'), model, (startNs, endNs) => requestView(startNs, endNs), () => state.paused,
  (tid, startNs) => [...state.longHolds, ...state.worstHolds].find((h) => h.tid === tid && Math.abs(h.startNs - startNs) < 2000)?.cause ?? null)
const connection = new Connection(receive, (live) => {
  $('connection').textContent = live ? 'live' : 'reconnecting…'
  $('connection').className = live ? 'connection live' : 'connection'
})

;(window as any).__gilwatch = { state, model, charts, timeline }
$<HTMLInputElement>('threshold').value = String(state.longHoldMs)

function subscribe (extra: Record<string, unknown> = {}): void {
  connection.send({
    type: 'subscribe',
    instance: state.selected,
    ...(state.service ? { service: state.service } : {}),
    live: !state.paused,
    windowMs: state.windowMs,
    widthPx: timeline.widthPx(),
    longHoldMs: state.longHoldMs,
    chartRangeS: state.chartRangeS,
    ...(charts.zoom ? { chartFromMs: Math.max(0, charts.zoom.from * 1000), chartToMs: Math.max(1, charts.zoom.to * 1000) } : {}),
    ...extra
  })
}

// The same view again with a setting changed: a paused or kept view stays as it is.
function resubscribe (): void {
  subscribe(state.paused ? { live: false, ...timeline.view, worstHold: state.worstHoldShown } : {})
}

// The zoom's controls: its span, pan by half of it (within the data), reset.
function renderZoom (): void {
  const zoom = charts.zoom
  $('chart-zoom').hidden = !zoom
  if (zoom) $('zoom-span').textContent = `${clock(zoom.from * 1000)} – ${clock(zoom.to * 1000)}`
}

function pan (direction: -1 | 1): void {
  const zoom = charts.zoom
  const extent = charts.extent()
  if (!zoom || !extent) return
  const span = zoom.to - zoom.from
  const from = Math.min(Math.max(zoom.from + direction * span / 2, extent.from), Math.max(extent.from, extent.to - span))
  charts.setZoom({ from, to: from + span })
  renderZoom()
  resubscribe()
}

let viewTimer: ReturnType<typeof setTimeout> | undefined
function requestView (startNs: number, endNs: number): void {
  clearTimeout(viewTimer)
  if (state.worstHoldShown !== undefined) return // a kept snapshot: zoomed and panned here, it has nothing finer
  viewTimer = setTimeout(() => subscribe({ live: false, startNs, endNs, worstHold: state.worstHoldShown }), 120)
}

function setPaused (paused: boolean): void {
  state.paused = paused
  state.worstHoldShown = undefined
  $('live').textContent = paused ? 'Live' : 'Pause'
  $('hint').hidden = !paused
  if (paused) subscribe({ live: false, ...timeline.view })
  else subscribe()
}

function receive (message: DashboardMessage, bytes: number): void {
  state.messages++
  state.lastMessageBytes = bytes
  if (message.type === 'processes') return renderPicker(message.processes, message.services)
  const full = message.type === 'full' || message.instance !== state.shown
  if (full) {
    if (message.instance !== state.shown) {
      const zoomed = charts.zoom !== null
      charts.reset()
      renderZoom()
      if (zoomed) resubscribe() // the zoom was of the other process
    }
    state.shown = message.instance
  }
  const spanNs = message.live && !state.paused ? message.windowMs * 1e6 : timeline.view.endNs - timeline.view.startNs
  model.apply(message.timeline, full, 35_000 * 1e6, spanNs / timeline.widthPx())
  if (message.live && !state.paused) {
    timeline.setView(model.nowNs - message.windowMs * 1e6, model.nowNs)
  } else if (full && message.timeline.endUs > 0) {
    timeline.setView(message.timeline.baseNs, message.timeline.baseNs + message.timeline.endUs * 1000)
  }
  timeline.requestFrame()
  if (message.series) charts.add(message.series)
  if (message.seriesRange) charts.replace(message.seriesRange, message.restartsMs ?? [])
  if (message.longHolds) state.longHolds = message.longHolds
  if (message.worstHolds) state.worstHolds = message.worstHolds
  if (message.longHolds || message.worstHolds) renderHolds()
  if (message.threads) renderThreads($('threads'), $('threads-scope'), $('threads-more'), message.threads)
  renderSummary()
}

function renderHolds (): void {
  if (state.holdsShown === 'worst') renderLongHolds($('long-holds'), state.worstHolds, showWorstHold)
  else renderLongHolds($('long-holds'), state.longHolds, showHold)
}

// A worst hold may be long gone from the live data: the timeline kept with it (every thread,
// a second either side) is shown instead, once the server has taken it.
function showWorstHold (hold: WorstHold & { instance?: string }): void {
  // Its id is its process's (a service's hold names its run): pin that process.
  state.selected = hold.instance ?? state.shown
  state.service = null
  if (!hold.hasTimeline) return showHold(hold) // not settled yet, or not among the 10 longest
  state.paused = true
  state.worstHoldShown = hold.id
  $('live').textContent = 'Live'
  $('hint').hidden = false
  const startNs = Math.max(0, hold.startNs - 1e9)
  const endNs = hold.endNs + 1e9
  timeline.setView(startNs, endNs)
  subscribe({ live: false, startNs, endNs, worstHold: hold.id })
}

function showHold (hold: LongHold): void {
  state.worstHoldShown = undefined
  const pad = Math.max((hold.endNs - hold.startNs) * 0.5, 20e6)
  state.paused = true
  $('live').textContent = 'Live'
  $('hint').hidden = false
  const startNs = hold.startNs - pad
  const endNs = hold.endNs + pad
  timeline.setView(startNs, endNs)
  subscribe({ live: false, startNs, endNs })
}

function renderPicker (processes: ProcessListEntry[], services: ServiceEntry[]): void {
  state.processes = processes
  const pid = params.get('pid')
  if (pid && !state.selected) {
    const match = processes.filter((p) => String(p.pid) === pid).pop()
    if (match) {
      state.selected = match.instance
      subscribe()
    }
  }
  const select = $<HTMLSelectElement>('process')
  const options = [new Option('newest live process', '')]
  for (const p of [...processes].reverse()) {
    const label = `${p.service} · pid ${p.pid} · ${p.state === 'connected' ? 'live' : 'exited'} · ${p.threads} threads`
    options.push(new Option(label, p.instance))
  }
  // A service restarted: its runs as one history (its newest run shown, the charts across all).
  const restarted = document.createElement('optgroup')
  restarted.label = 'services across restarts'
  for (const s of services) restarted.append(new Option(`${s.service} · ${s.runs.length} runs`, `service:${s.id}`))
  select.replaceChildren(...options, ...(services.length ? [restarted] : []))
  select.value = state.service ? `service:${state.service}` : state.selected ?? ''
  renderSummary()
}

function renderSummary (): void {
  const recent = charts.latest(5)
  const avg = (column: number) => (recent.length ? recent.reduce((n, r) => n + r[column], 0) / recent.length : 0)
  let waitersNow = 0
  let longest: { ns: number, lane: string, at: number } | null = null
  const [start, end] = [timeline.view.startNs, timeline.view.endNs]
  for (const lane of model.lanes.values()) {
    for (const item of lane.items) {
      if (item.kind === LaneKind.WAIT && item.open) waitersNow++
      if (item.kind === LaneKind.HOLD && item.count === 1 && item.end >= start && item.start <= end) {
        const ns = item.end - item.start
        if (!longest || ns > longest.ns) longest = { ns, lane: lane.name, at: item.start }
      }
    }
  }
  const shown = state.processes.find((p) => p.instance === state.shown)
  renderTiles($('tiles'), [
    { label: 'GIL held', value: percent(avg(SeriesColumn.HELD)), detail: 'last 5 s' },
    // Thread-seconds waited per second: an average, so say so rather than "5.4 threads".
    {
      label: 'Threads waiting',
      value: recent.length ? `avg ${avg(SeriesColumn.WAITING).toFixed(1)}` : '—',
      detail: recent.length ? `average over the last ${recent.length} s` : 'no complete second yet'
    },
    { label: 'Waiters now', value: String(waitersNow), detail: 'waiting 10 ms or more' },
    {
      label: 'Longest hold',
      value: longest ? duration(longest.ns) : '—',
      detail: longest ? `${longest.lane} at ${clock(model.wallMs(longest.at))}` : 'in the timeline window'
    },
    { label: 'Forced switches', value: `${avg(SeriesColumn.DROP_REQUESTS).toFixed(1)}/s`, detail: 'last 5 s' },
    { label: 'Dropped events', value: String(shown?.droppedEvents ?? 0), detail: shown ? `${shown.service} pid ${shown.pid}` : 'no process yet' }
  ])
}

$<HTMLSelectElement>('process').addEventListener('change', (e) => {
  const value = (e.target as HTMLSelectElement).value
  state.service = value.startsWith('service:') ? value.slice('service:'.length) : null
  state.selected = state.service ? null : value || null
  charts.reset()
  renderZoom()
  state.paused = false
  state.worstHoldShown = undefined
  $('live').textContent = 'Pause'
  $('hint').hidden = true
  subscribe()
})
$('live').addEventListener('click', () => setPaused(!state.paused))
for (const choice of ['holds-latest', 'holds-worst']) {
  $<HTMLInputElement>(choice).addEventListener('change', (e) => {
    state.holdsShown = (e.target as HTMLInputElement).value as 'latest' | 'worst'
    renderHolds()
  })
}
$('zoom-back').addEventListener('click', () => pan(-1))
$('zoom-forward').addEventListener('click', () => pan(1))
$('zoom-reset').addEventListener('click', () => {
  charts.setZoom(null)
  renderZoom()
  resubscribe()
})
$<HTMLSelectElement>('chart-range').addEventListener('change', (e) => {
  state.chartRangeS = Number((e.target as HTMLSelectElement).value)
  charts.reset()
  renderZoom()
  resubscribe()
})
$<HTMLSelectElement>('window').addEventListener('change', (e) => {
  state.windowMs = Number((e.target as HTMLSelectElement).value)
  subscribe()
})
$<HTMLInputElement>('threshold').addEventListener('change', (e) => {
  const ms = Number((e.target as HTMLInputElement).value)
  if (ms > 0) {
    state.longHoldMs = ms
    resubscribe()
  }
})
window.addEventListener('resize', () => timeline.requestFrame())
subscribe()
