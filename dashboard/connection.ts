// The WebSocket to the server (/ws: server/dashboard.ts), reconnecting by itself with backoff.
import type { DashboardMessage } from '../server/shared/views'

export class Connection {
  private socket: WebSocket | null = null
  private backoffMs = 250
  private lastSubscribe: unknown = null

  bytes = 0 // received so far, for the dashboard's own measurements

  constructor (private readonly onMessage: (m: DashboardMessage, bytes: number) => void, private readonly onStatus: (live: boolean) => void) {
    this.open()
  }

  send (message: unknown): void {
    if ((message as { type?: string }).type === 'subscribe') this.lastSubscribe = message
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message))
  }

  private open (): void {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`
    const socket = new WebSocket(url)
    this.socket = socket
    socket.onopen = () => {
      this.backoffMs = 250
      this.onStatus(true)
      if (this.lastSubscribe) socket.send(JSON.stringify(this.lastSubscribe))
    }
    socket.onmessage = (event) => {
      const text = event.data as string
      this.bytes += text.length
      this.onMessage(JSON.parse(text) as DashboardMessage, text.length)
    }
    socket.onclose = () => {
      this.onStatus(false)
      setTimeout(() => this.open(), this.backoffMs)
      this.backoffMs = Math.min(this.backoffMs * 2, 5000)
    }
  }
}
