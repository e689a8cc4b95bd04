// The live dashboard's WebSocket side (/ws). Each browser subscribes to one process and
// gets, about 10 times a second, what changed: the timeline since the last update
// (downsampled to its pixel width by the store), the per-second series, the long holds,
// the thread table (the THREAD_ROWS threads that held the GIL longest: bounded, however
// many threads there are) and the summary tiles. A client that does not keep up is never
// queued for: while its socket holds more than SEND_BUFFER_LIMIT bytes, updates are
// skipped, and once it drains it gets a full, current state instead of the backlog.
//
// Clients are untrusted (docs/security.md, "The web side's limits"): their number is capped
// in all and per peer, every message is checked against its schema (server/schemas.ts)
// before it is read, messages are rate-limited, and subscriptions are coalesced: a client
// gets at most one update computed per tick and none while its last one is still being
// sent, however many it asks for; all clients together get at most WORK_PER_TICK_MS of each
// 100 ms tick. A fault in one client's update closes that client only.
import { STATUS_CODES, type IncomingMessage, type Server as HttpServer } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import type { AccessPolicy } from './access'
import { accessErrorCodes } from './errors'
import type { ClientErrors } from './client-errors'
import { peerKey, peerOf } from './peer'
import { parseDashboardMessage, type SubscribeMessage } from './schemas'
import type { Store } from './store'
import { defaultWebLimits, type WebLimitCounters, type WebLimits } from './web-limits'
import {
  TIMELINE_ITEM_FIELDS, TimelineItem, type DashboardMessage, type DashboardUpdate, type TimelineMessage, type TimelineView
} from './shared/views'

export const UPDATE_INTERVAL_MS = 100
export const SEND_BUFFER_LIMIT = 1 << 20
// Event-loop time the hub may spend computing updates per tick, all clients together: the
// rest of the tick is ingest's and /metrics' (npm run bench -- --only=ingestlag: ingest lag
// stays under 100 ms with 64 clients asking for the widest view). Clients left over are
// served first next tick.
export const WORK_PER_TICK_MS = 15
// Lanes × pixels of one timeline update at most (e.g. 100 threads at 2 000 px).
export const TIMELINE_CELLS = 200_000
export const THREAD_ROWS = 50
const DEFAULT_WINDOW_MS = 20_000
export const LIVE_CHART_S = 300 // the live charts: the last 5 minutes, a row per second, sent as they come
const CHART_POINTS = 4400 // a longer range: at most this many rows (an hour of seconds, 30 days of 10 minutes)
const OVERLAP_MS = 300 // each update re-sends this much: ranges that ended late replace what was drawn

interface Subscription {
  instance: string | null // null: follow the newest connected process
  live: boolean
  windowMs: number
  widthPx: number
  longHoldMs: number
  view?: { startNs: number, endNs: number } // when paused/zoomed
  worstHold?: number // when showing the timeline kept with one of the worst holds (its id)
  chartRangeS: number // LIVE_CHART_S: the live charts; else that range of the history (0: the whole run)
  chartZoom?: { fromMs: number, toMs: number } // the charts zoomed in (wall ms): the thread table and worst holds follow
  service?: string // a service's id (/api/services): its newest run shown, its charts across its runs
}

interface Client {
  socket: WebSocket
  peer: string // server/peer.ts: peerKey
  subscription: Subscription
  sentUntilNs: number // timeline sent up to here (live mode)
  seriesFromSecond: number
  needsFull: boolean
  inFlight: boolean // the last update is not yet handed to the kernel
  updatedAt: number // Date.now() of the last update computed
  tick: number
  skipped: number
  allowance: number // messages it may still send (a token bucket refilled at wsMessagesPerSecond)
  allowanceAt: number
}

export interface DashboardStats { clients: number, skippedUpdates: number, maxBufferedBytes: number }

// ns timestamps become µs offsets from the view's start: compact JSON, exact enough to draw.
function encodeTimeline (t: TimelineView): TimelineMessage {
  const { START, END, KIND, COUNT, FILL, MESSAGE } = TimelineItem
  return {
    baseNs: t.startNs,
    wallAtStartMs: t.wallAtStartMs,
    endUs: Math.round((t.endNs - t.startNs) / 1000),
    nowUs: Math.round((t.nowNs - t.startNs) / 1000),
    strings: t.strings,
    lanes: t.lanes.map((lane) => {
      const items: number[] = new Array(lane.items.length)
      for (let i = 0; i < lane.items.length; i += TIMELINE_ITEM_FIELDS) {
        items[i + START] = Math.round((lane.items[i + START] - t.startNs) / 1000)
        items[i + END] = Math.round((lane.items[i + END] - t.startNs) / 1000)
        items[i + KIND] = lane.items[i + KIND]
        items[i + COUNT] = lane.items[i + COUNT]
        items[i + FILL] = Math.round(lane.items[i + FILL] * 1000) / 1000
        items[i + MESSAGE] = lane.items[i + MESSAGE]
      }
      return { thread: lane.thread, tid: lane.tid, name: lane.name, exited: lane.exited, items }
    })
  }
}

export class DashboardHub {
  private readonly wss: WebSocketServer
  private readonly clients = new Set<Client>()
  private readonly perPeer = new Map<string, number>()
  private readonly timer: NodeJS.Timeout
  private skippedUpdates = 0
  private processesTick = 0
  private tickStarted = 0 // performance.now() at the start of this tick
  private spentMs = 0 // on updates since then
  private deferred: Client[] = [] // left over last tick for want of time: served first

  constructor (private readonly store: Store, private readonly faults: ClientErrors, private readonly overflows: WebLimitCounters,
    private readonly limits: WebLimits = defaultWebLimits) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: limits.wsMessageBytes })
    this.wss.on('connection', (socket, request: IncomingMessage) => this.accept(socket, peerKey(peerOf(request.socket as Socket))))
    this.timer = setInterval(() => this.push(), UPDATE_INTERVAL_MS)
    this.timer.unref()
  }

  // The access policy and the client limits decide before the handshake: a refused browser
  // sees an HTTP status, never an open socket that then closes.
  attach (server: HttpServer, access: AccessPolicy): void {
    server.on('upgrade', (request, socket, head) => {
      if ((request.url ?? '/').split('?')[0] !== '/ws') {
        socket.destroy()
        return
      }
      const verdict = access.check(request, 'websocket')
      if (verdict.kind === 'refuse') return refuseUpgrade(socket, verdict.status, verdict.headers, { error: verdict.message, code: verdict.code })
      const peer = peerKey(peerOf(request.socket as Socket))
      const full = this.clients.size >= this.limits.wsClients
        ? 'ws_clients'
        : (this.perPeer.get(peer) ?? 0) >= this.limits.wsClientsPerPeer ? 'ws_clients_per_peer' : null
      if (full) {
        this.overflows.count(full)
        const message = full === 'ws_clients'
          ? `the dashboard already has ${this.limits.wsClients} clients, its limit: try again later`
          : `${peer} already has ${this.limits.wsClientsPerPeer} dashboard clients open, the limit per peer: close some`
        return refuseUpgrade(socket, 503, { 'retry-after': '5' }, { error: message, code: accessErrorCodes.tooManyClients })
      }
      this.wss.handleUpgrade(request, socket, head, (ws) => this.wss.emit('connection', ws, request))
    })
  }

  stats (): DashboardStats {
    let maxBufferedBytes = 0
    for (const c of this.clients) maxBufferedBytes = Math.max(maxBufferedBytes, c.socket.bufferedAmount)
    return { clients: this.clients.size, skippedUpdates: this.skippedUpdates, maxBufferedBytes }
  }

  // Drops every browser connection (they reconnect by themselves).
  terminateClients (): void {
    for (const c of this.clients) c.socket.terminate()
  }

  close (): void {
    clearInterval(this.timer)
    this.terminateClients()
    this.wss.close()
  }

  private accept (socket: WebSocket, peer: string): void {
    const client: Client = {
      socket,
      peer,
      subscription: { instance: null, live: true, windowMs: DEFAULT_WINDOW_MS, widthPx: 1200, longHoldMs: 50, chartRangeS: LIVE_CHART_S },
      sentUntilNs: 0,
      seriesFromSecond: 0,
      needsFull: true,
      inFlight: false,
      updatedAt: 0,
      tick: 0,
      skipped: 0,
      allowance: 2 * this.limits.wsMessagesPerSecond,
      allowanceAt: Date.now()
    }
    this.clients.add(client)
    this.perPeer.set(peer, (this.perPeer.get(peer) ?? 0) + 1)
    let gone = false
    const leave = () => {
      if (gone) return
      gone = true
      this.clients.delete(client)
      const left = (this.perPeer.get(peer) ?? 1) - 1
      if (left > 0) this.perPeer.set(peer, left)
      else this.perPeer.delete(peer)
    }
    socket.on('message', (data, isBinary) => this.receive(client, isBinary ? null : data.toString()))
    socket.on('close', leave)
    socket.on('error', (error: Error & { code?: string }) => {
      // ws has already closed the socket (1009) for a message above maxPayload.
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.overflows.count('ws_message_bytes')
      leave()
    })
    this.guarded(client, () => this.sendProcesses(client))
  }

  private receive (client: Client, text: string | null): void {
    if (!this.allow(client)) {
      this.overflows.count('ws_message_rate')
      client.socket.close(1008, `more than ${this.limits.wsMessagesPerSecond} messages a second`)
      return
    }
    const parsed = text === null ? { ok: false as const, error: 'a binary message' } : parseDashboardMessage(text)
    if (!parsed.ok) {
      this.faults.record('websocket', 'invalid_message', `${client.peer}: ${parsed.error}`)
      client.socket.close(1008, closeReason(`invalid message: ${parsed.error}`))
      return
    }
    this.subscribe(client, parsed.value)
    // Answered at once when the client has nothing in flight, had no update this tick and the
    // tick has time left; otherwise the next tick answers the latest subscription only.
    if (!client.inFlight && Date.now() - client.updatedAt >= UPDATE_INTERVAL_MS &&
        client.socket.bufferedAmount <= SEND_BUFFER_LIMIT && this.timeLeft()) {
      this.timed(client, () => this.update(client))
    }
  }

  private subscribe (client: Client, message: SubscribeMessage): void {
    const s = client.subscription
    s.instance = message.instance ?? null
    s.service = message.service
    if (message.windowMs !== undefined) s.windowMs = Math.min(Math.max(message.windowMs, 1000), 30_000)
    if (message.widthPx !== undefined) s.widthPx = Math.round(Math.min(Math.max(message.widthPx, 100), 8000))
    if (message.longHoldMs !== undefined) s.longHoldMs = Math.min(Math.max(message.longHoldMs, 1), 3_600_000)
    s.live = message.live !== false
    s.view = s.live || message.startNs === undefined ? undefined : { startNs: message.startNs, endNs: message.endNs! }
    // Hold ids are a process's own: only with the process named.
    s.worstHold = s.live || !s.instance ? undefined : message.worstHold
    if (message.chartRangeS !== undefined) s.chartRangeS = message.chartRangeS
    s.chartZoom = message.chartFromMs === undefined ? undefined : { fromMs: message.chartFromMs, toMs: message.chartToMs! }
    client.needsFull = true
  }

  // A token bucket: wsMessagesPerSecond sustained, twice that in a burst.
  private allow (client: Client): boolean {
    const now = Date.now()
    const rate = this.limits.wsMessagesPerSecond
    client.allowance = Math.min(2 * rate, client.allowance + (now - client.allowanceAt) / 1000 * rate)
    client.allowanceAt = now
    if (client.allowance < 1) return false
    client.allowance--
    return true
  }

  // One client's work: an exception closes that client (counted and logged), never the hub.
  private guarded (client: Client, work: () => void): void {
    try {
      work()
    } catch (error) {
      this.faults.record('websocket', 'handler_error', `${client.peer}: ${(error as Error).stack ?? String(error)}`)
      client.socket.close(1011, 'internal error')
    }
  }

  private sendProcesses (client: Client): void {
    this.send(client, { type: 'processes', processes: this.store.list(), services: this.store.services().filter((x) => x.runs.length > 1) })
  }

  private push (): void {
    const sendProcesses = ++this.processesTick % 10 === 0
    this.tickStarted = performance.now()
    this.spentMs = 0
    // Those left over last tick first, then everyone else in order.
    const first = new Set(this.deferred.filter((c) => this.clients.has(c)))
    const order = [...first, ...[...this.clients].filter((c) => !first.has(c))]
    this.deferred = []
    for (const client of order) {
      if (client.socket.readyState !== client.socket.OPEN) continue
      if (client.inFlight || client.socket.bufferedAmount > SEND_BUFFER_LIMIT) {
        client.skipped++
        this.skippedUpdates++
        if (client.socket.bufferedAmount > SEND_BUFFER_LIMIT) client.needsFull = true // when it drains: the current state, not the backlog
        continue
      }
      if (!this.timeLeft()) {
        this.deferred.push(client)
        continue
      }
      this.timed(client, () => {
        if (sendProcesses) this.sendProcesses(client)
        this.update(client)
      })
    }
    this.skippedUpdates += this.deferred.length
  }

  private timeLeft (): boolean {
    if (performance.now() - this.tickStarted > UPDATE_INTERVAL_MS) { // a new tick's worth of time since the last push
      this.tickStarted = performance.now()
      this.spentMs = 0
    }
    return this.spentMs < WORK_PER_TICK_MS
  }

  private timed (client: Client, work: () => void): void {
    const started = performance.now()
    this.guarded(client, work)
    this.spentMs += performance.now() - started
  }

  // The process a client sees and how many lanes (threads) it has.
  private target (client: Client): { instance: string, threads: number } | null {
    const s = client.subscription
    const list = this.store.list()
    const newestRun = s.service ? this.store.services().find((x) => x.id === s.service)?.runs.at(-1)?.instance : undefined
    const wanted = newestRun ?? s.instance
    // By default the newest live process; with none live (a recording's view), the newest.
    const p = wanted ? list.find((x) => x.instance === wanted) : list.filter((x) => x.state === 'connected').at(-1) ?? list.at(-1)
    return p ? { instance: p.instance, threads: p.threads } : null
  }

  private update (client: Client): void {
    client.updatedAt = Date.now()
    const target = this.target(client)
    if (!target) return
    const instance = target.instance
    const s = client.subscription
    // Timeline cells (lanes × pixels) are what an update costs to build and send: bounded,
    // so one update of a process with hundreds of threads cannot hold the event loop for long.
    const widthPx = Math.max(100, Math.min(s.widthPx, Math.floor(TIMELINE_CELLS / Math.max(1, target.threads))))
    client.tick++
    const full = client.needsFull
    let timeline: TimelineView | null
    const kept = s.worstHold !== undefined ? this.store.worstHoldTimeline(instance, s.worstHold) : null
    if (s.worstHold !== undefined && !kept) s.worstHold = undefined // none kept: the view as asked
    if (kept) {
      if (!full) return // a kept snapshot does not change
      timeline = kept
    } else if (s.view) {
      if (!full) return // a paused view does not change
      timeline = this.store.timeline(instance, s.view.startNs, s.view.endNs, (s.view.endNs - s.view.startNs) / widthPx)
    } else {
      const now = this.store.clock(instance)?.nowNs
      if (now === undefined) return
      const windowNs = s.windowMs * 1e6
      const from = full ? now - windowNs : Math.max(now - windowNs, client.sentUntilNs - OVERLAP_MS * 1e6)
      timeline = this.store.timeline(instance, from, now, windowNs / widthPx)
      client.sentUntilNs = now
    }
    if (!timeline) return
    const message: DashboardUpdate = {
      type: full ? 'full' : 'update',
      instance,
      live: !s.view,
      windowMs: s.windowMs,
      timeline: encodeTimeline(timeline)
    }
    // Charts, long holds and the thread table change at most once a second; tiles with them.
    if (full || client.tick % 5 === 0) {
      if (s.service) {
        // A service: every run's history, stitched; each run's start marks a restart.
        const series = this.store.serviceSeries(s.service, CHART_POINTS, CHART_POINTS * 4)
        if (series) {
          message.seriesRange = [{ interp: 0, columns: series.columns, rows: series.runs.flatMap((r) => Array.from(r.rows)) }]
          message.restartsMs = series.runs.slice(1).map((r) => r.startMs)
        }
      } else if (s.chartRangeS === LIVE_CHART_S) {
        const series = this.store.series(instance, full ? 0 : client.seriesFromSecond)
        if (series) {
          message.series = series.map((g) => ({ interp: g.interp, columns: g.columns, rows: Array.from(g.rows) }))
          const first = series[0]
          if (first) client.seriesFromSecond = first.firstSecond + first.rows.length / first.columns
        }
      } else {
        // The charts draw one GIL (the main interpreter's): only its table is sent.
        const series = this.store.seriesRange(instance, s.chartRangeS, CHART_POINTS)
        const main = series && (series.find((g) => g.interp === 0) ?? series[0])
        if (main) message.seriesRange = [{ interp: main.interp, columns: main.columns, rows: Array.from(main.rows), widthS: main.widthS }]
      }
      message.longHolds = this.store.longHolds(instance, s.longHoldMs * 1e6, 50)
      // The worst holds and the thread table of the charts' range (the live 5 minutes, an
      // hour, ..., the whole run), or of the part of it the charts are zoomed to.
      // A service's worst holds are of all its runs.
      const range = this.chartSpan(instance, s)
      const worst = s.service ? this.store.serviceWorstHolds(s.service, 100) : this.store.worstHolds(instance, 100)
      message.worstHolds = worst?.filter((h) => !range || (h.startMs + h.durationNs / 1e6 >= range.fromMs && h.startMs < range.toMs)).slice(0, 20) ?? null
      message.threads = this.store.threads(instance, THREAD_ROWS, range ?? undefined)
    }
    client.needsFull = false
    this.send(client, message)
  }

  // The span the charts show, in wall ms; null: the whole run.
  private chartSpan (instance: string, s: Subscription): { fromMs: number, toMs: number } | null {
    const clock = this.store.clock(instance)
    if (!clock) return null
    return s.chartZoom ?? (s.chartRangeS === 0 ? null : { fromMs: clock.wallMs - s.chartRangeS * 1000, toMs: clock.wallMs })
  }

  // In flight until ws hands the frame to the kernel: a client that does not read holds
  // back its own next update, not the hub.
  private send (client: Client, message: DashboardMessage): void {
    client.inFlight = true
    client.socket.send(JSON.stringify(message), () => { client.inFlight = false })
  }
}

// A WebSocket close reason is at most 123 bytes of UTF-8.
function closeReason (text: string): string {
  let reason = text.slice(0, 123)
  while (Buffer.byteLength(reason) > 123) reason = reason.slice(0, -1)
  return reason
}

function refuseUpgrade (socket: Duplex, status: number, headers: Record<string, string>, body: object): void {
  const text = JSON.stringify(body)
  const all = { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)), connection: 'close' }
  socket.once('finish', () => socket.destroy())
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${Object.entries(all).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n${text}`)
}
