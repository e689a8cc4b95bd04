// How many HTTP connections clients may hold (WebSockets included): each is a file
// descriptor, and a client that opens thousands of them and sends nothing would otherwise
// exhaust the server's and take /metrics, /healthz and ingest down with them. Connections
// are counted in all and per peer (server/peer.ts: a local user or a remote address). At
// either limit a new connection makes room by closing the oldest *idle* one in that scope
// (no request being answered: half-open, or kept alive between requests), so a flood of
// silent connections cannot lock out a client that actually asks something; only when every
// connection is busy is the newcomer closed. Either way it is counted. Requests that do not
// arrive in time are cut by Node's own timers (configured in server/http.ts) and counted here.
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { peerKey, peerOf } from './peer'
import type { WebLimitCounters, WebLimits } from './web-limits'

interface Tracked { busy: boolean, release: () => void }

export class HttpConnections {
  private readonly all = new Map<Socket, Tracked>() // in order of arrival
  private readonly perPeer = new Map<string, Set<Socket>>()

  constructor (private readonly limits: WebLimits, private readonly overflows: WebLimitCounters) {}

  get count (): number { return this.all.size }

  attach (server: Server): void {
    server.on('connection', (socket: Socket) => this.admit(socket))
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      const tracked = this.all.get(request.socket as Socket)
      if (!tracked) return
      tracked.busy = true
      response.once('close', () => { tracked.busy = false })
    })
    // A WebSocket is served for as long as it is open (its own limits: server/dashboard.ts).
    server.on('upgrade', (request: IncomingMessage) => {
      const tracked = this.all.get(request.socket as Socket)
      if (tracked) tracked.busy = true
    })
    server.on('clientError', (error: Error & { code?: string }) => {
      if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') this.overflows.count('http_timeout')
    })
  }

  private admit (socket: Socket): void {
    const peer = peerKey(peerOf(socket))
    let mine = this.perPeer.get(peer)
    if (mine && mine.size >= this.limits.httpConnectionsPerPeer) {
      this.overflows.count('http_connections_per_peer')
      if (!this.closeOldestIdle(mine)) {
        socket.destroy()
        return
      }
    }
    if (this.all.size >= this.limits.httpConnections) {
      this.overflows.count('http_connections')
      if (!this.closeOldestIdle(this.all.keys())) {
        socket.destroy()
        return
      }
    }
    if (!mine) this.perPeer.set(peer, mine = new Set())
    const peerSockets = mine
    let released = false
    const release = () => {
      if (released) return
      released = true
      this.all.delete(socket)
      peerSockets.delete(socket)
      if (!peerSockets.size && this.perPeer.get(peer) === peerSockets) this.perPeer.delete(peer)
    }
    this.all.set(socket, { busy: false, release })
    peerSockets.add(socket)
    socket.once('close', release)
  }

  // Closes the first idle socket of `sockets` (oldest first); false when all are busy. Its
  // place is free at once ('close' comes a tick later).
  private closeOldestIdle (sockets: Iterable<Socket>): boolean {
    for (const socket of sockets) {
      const tracked = this.all.get(socket)
      if (!tracked || tracked.busy) continue
      tracked.release()
      socket.destroy()
      return true
    }
    return false
  }
}
