// The live dashboard's WebSocket side (/ws). Each browser subscribes to one process and
// gets, about 10 times a second, what changed: the timeline since the last update
// (downsampled to its pixel width by the store), the per-second series, the long holds,
// the thread table (the THREAD_ROWS threads that held the GIL longest: bounded, however
// many threads there are) and the summary tiles. A client that does not keep up is never
// queued for: while its socket holds more than SEND_BUFFER_LIMIT bytes, updates are
// skipped, and once it drains it gets a full, current state instead of the backlog.
import { STATUS_CODES, type Server as HttpServer } from 'node:http'
import { WebSocketServer, type WebSocket } from 'ws'
import type { AccessPolicy } from './access'
import type { Logger } from './log'
import type { Store } from './store'
import {
  TIMELINE_ITEM_FIELDS, TimelineItem, type DashboardMessage, type DashboardUpdate, type TimelineMessage, type TimelineView
} from './views'

export const UPDATE_INTERVAL_MS = 100
export const SEND_BUFFER_LIMIT = 1 << 20
export const THREAD_ROWS = 50
const DEFAULT_WINDOW_MS = 20_000
const OVERLAP_MS = 300 // each update re-sends this much: ranges that ended late replace what was drawn

interface Subscription {
  instance: string | null // null: follow the newest connected process
  live: boolean
  windowMs: number
  widthPx: number
  longHoldMs: number
  view?: { startNs: number, endNs: number } // when paused/zoomed
}

interface Client {
  socket: WebSocket
  subscription: Subscription
  sentUntilNs: number // timeline sent up to here (live mode)
  seriesFromSecond: number
  needsFull: boolean
  tick: number
  skipped: number
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
  private readonly timer: NodeJS.Timeout
  private skippedUpdates = 0
  private processesTick = 0

  constructor (private readonly store: Store, private readonly log: Logger) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 })
    this.wss.on('connection', (socket) => this.accept(socket))
    this.timer = setInterval(() => this.push(), UPDATE_INTERVAL_MS)
    this.timer.unref()
  }

  // The access policy decides before the handshake: a refused browser sees an HTTP status,
  // never an open socket that then closes.
  attach (server: HttpServer, access: AccessPolicy): void {
    server.on('upgrade', (request, socket, head) => {
      if ((request.url ?? '/').split('?')[0] !== '/ws') {
        socket.destroy()
        return
      }
      const verdict = access.check(request, 'websocket')
      if (verdict.kind === 'refuse') {
        const body = JSON.stringify({ error: verdict.message, code: verdict.code })
        const headers = { ...verdict.headers, 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), connection: 'close' }
        socket.once('finish', () => socket.destroy())
        socket.end(`HTTP/1.1 ${verdict.status} ${STATUS_CODES[verdict.status]}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n${body}`)
        return
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

  private accept (socket: WebSocket): void {
    const client: Client = {
      socket,
      subscription: { instance: null, live: true, windowMs: DEFAULT_WINDOW_MS, widthPx: 1200, longHoldMs: 50 },
      sentUntilNs: 0,
      seriesFromSecond: 0,
      needsFull: true,
      tick: 0,
      skipped: 0
    }
    this.clients.add(client)
    socket.on('message', (data) => this.receive(client, data.toString()))
    socket.on('close', () => this.clients.delete(client))
    socket.on('error', () => this.clients.delete(client))
    this.sendProcesses(client)
  }

  private receive (client: Client, text: string): void {
    let message: any
    try {
      message = JSON.parse(text)
    } catch {
      client.socket.close(1003, 'messages must be JSON')
      return
    }
    const s = client.subscription
    if (message.type === 'subscribe') {
      s.instance = typeof message.instance === 'string' && /^[0-9a-f]{16}$/.test(message.instance) ? message.instance : null
      if (Number.isFinite(message.windowMs)) s.windowMs = Math.min(Math.max(message.windowMs, 1000), 30_000)
      if (Number.isFinite(message.widthPx)) s.widthPx = Math.min(Math.max(message.widthPx, 100), 8000)
      if (Number.isFinite(message.longHoldMs)) s.longHoldMs = Math.max(message.longHoldMs, 1)
      s.live = message.live !== false
      s.view = s.live || !Number.isFinite(message.startNs) ? undefined : { startNs: message.startNs, endNs: message.endNs }
      client.needsFull = true
      // A client that floods requests while not reading gets nothing more queued.
      if (client.socket.bufferedAmount <= SEND_BUFFER_LIMIT) this.update(client)
    }
  }

  private sendProcesses (client: Client): void {
    this.send(client, { type: 'processes', processes: this.store.list() })
  }

  private push (): void {
    const sendProcesses = ++this.processesTick % 10 === 0
    for (const client of this.clients) {
      if (client.socket.bufferedAmount > SEND_BUFFER_LIMIT) {
        client.skipped++
        this.skippedUpdates++
        client.needsFull = true // when it drains, it gets the current state, not the backlog
        continue
      }
      if (sendProcesses) this.sendProcesses(client)
      this.update(client)
    }
  }

  private target (client: Client): string | null {
    const s = client.subscription
    if (s.instance) return s.instance
    const live = this.store.list().filter((p) => p.state === 'connected')
    return live.length ? live[live.length - 1].instance : null
  }

  private update (client: Client): void {
    const instance = this.target(client)
    if (!instance) return
    const s = client.subscription
    client.tick++
    const full = client.needsFull
    let timeline: TimelineView | null
    if (s.view) {
      if (!full) return // a paused view does not change
      timeline = this.store.timeline(instance, s.view.startNs, s.view.endNs, (s.view.endNs - s.view.startNs) / s.widthPx)
    } else {
      const now = this.store.clock(instance)?.nowNs
      if (now === undefined) return
      const windowNs = s.windowMs * 1e6
      const from = full ? now - windowNs : Math.max(now - windowNs, client.sentUntilNs - OVERLAP_MS * 1e6)
      timeline = this.store.timeline(instance, from, now, windowNs / s.widthPx)
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
      const series = this.store.series(instance, full ? 0 : client.seriesFromSecond)
      if (series) {
        message.series = series.map((g) => ({ interp: g.interp, columns: g.columns, rows: Array.from(g.rows) }))
        const first = series[0]
        if (first) client.seriesFromSecond = first.firstSecond + first.rows.length / first.columns
      }
      message.longHolds = this.store.longHolds(instance, s.longHoldMs * 1e6, 50)
      message.threads = this.store.threads(instance, THREAD_ROWS)
    }
    client.needsFull = false
    this.send(client, message)
  }

  private send (client: Client, message: DashboardMessage): void {
    try {
      client.socket.send(JSON.stringify(message))
    } catch (error) {
      this.log.warn(`dashboard client: ${(error as Error).message}`)
    }
  }
}
