// The ingest listeners: a Unix socket private to this user and, when asked, TCP. Sockets
// and their lifetimes are handled here; every byte passes the token gate (ingest-auth.ts)
// and goes to the native decoder. Limits a socket needs a clock or a count of sockets for
// (connections, HELLO and idle timeouts) are enforced here, the rest in the decoder
// (docs/security.md, "Ingest" and "Sockets and ingest authentication").
import fs from 'node:fs'
import net from 'node:net'
import type { ClientErrors } from './client-errors'
import { errors, type DecodeError } from './errors'
import { isSocket, prepareSocketDirectory, removeStaleSocket } from './socket-path'
import { IngestGate, type IngestToken } from './ingest-auth'
import { OverflowLog, resolveIngestLimits, type IngestLimits } from './limits'
import type { Logger, RateLimitedLog } from './log'
import { credentialOf, peerOf } from './peer'
import type { Recorder } from './recording'
import { regionDirectory, type Store } from './store'

export interface IngestAddress { kind: 'unix' | 'tcp', address: string }

export class Ingest {
  private readonly servers: net.Server[] = []
  private readonly sockets = new Set<net.Socket>()
  private readonly unixPaths: string[] = []
  // Per Unix socket: where its processes keep their totals files (store.ts: regionDirectory).
  private readonly regionDirectories = new Map<string, string>()
  private readonly overflowReporter: NodeJS.Timeout
  // Connections holding an incomplete frame (their store connection and its bytes), and
  // those bytes in all (IngestLimits.bufferedBytes, frameTimeoutMs).
  private readonly partials = new Map<net.Socket, { connection: number, bytes: number }>()
  private bufferedTotal = 0

  // `clientLog`: lines about what one connection did, at a bounded rate; `log`: the rest;
  // `faults`: where a fault of ours met on a connection's bytes is counted.
  constructor (private readonly store: Store, private readonly clientLog: RateLimitedLog, private readonly log: Logger,
    private readonly faults: ClientErrors, private readonly recorder?: Recorder,
    private readonly limits: IngestLimits = resolveIngestLimits(), private readonly token: IngestToken | null = null) {
    const overflows = new OverflowLog(log)
    this.overflowReporter = setInterval(() => {
      this.expireFrames()
      overflows.update(store.counters().limitOverflows)
    }, 1000)
    this.overflowReporter.unref()
  }

  async listenUnix (socketPath: string): Promise<IngestAddress> {
    prepareSocketDirectory(socketPath)
    await removeStaleSocket(socketPath)
    const server = this.createServer(socketPath)
    // umask so the socket is born 0600: no window where another user could connect.
    const previous = process.umask(0o177)
    try {
      await listen(server, { path: socketPath })
    } finally {
      process.umask(previous)
    }
    fs.chmodSync(socketPath, 0o600)
    this.unixPaths.push(socketPath)
    // Totals left by processes that ended while no server was here (docs/protocol.md).
    const regions = regionDirectory(socketPath)
    this.regionDirectories.set(socketPath, regions)
    this.store.scanRegions(regions, process.geteuid ? process.geteuid() : 0)
    return { kind: 'unix', address: socketPath }
  }

  async listenTcp (host: string, port: number): Promise<IngestAddress> {
    const server = this.createServer(null)
    await listen(server, { host, port })
    const bound = server.address() as net.AddressInfo
    return { kind: 'tcp', address: `tcp://${formatHost(bound.address)}:${bound.port}` }
  }

  async close (): Promise<void> {
    clearInterval(this.overflowReporter)
    for (const socket of this.sockets) socket.destroy()
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
    for (const p of this.unixPaths) if (isSocket(p)) fs.rmSync(p, { force: true })
  }

  // `unixPath`: the socket's path, or null for TCP, where the token, when the server has one,
  // is required (ingest-auth.ts says why not on Unix).
  private createServer (unixPath: string | null): net.Server {
    const tcp = unixPath === null
    const server = net.createServer((socket) => this.accept(socket, new IngestGate(this.token, tcp && this.token !== null), unixPath))
    server.on('error', (error) => this.log.error(`ingest listener: ${error.message}`))
    this.servers.push(server)
    return server
  }

  private accept (socket: net.Socket, gate: IngestGate, unixPath: string | null): void {
    // Each socket is a file descriptor: past the limit a new one is closed at once, and the
    // connections already open (honest processes among them) keep working.
    if (this.sockets.size >= this.limits.connections) {
      this.store.countOverflow('connections')
      socket.destroy()
      return
    }
    // Who may continue which process is bound to the peer's credentials (server/peer.ts).
    // A Unix peer's process keeps its totals in a file beside the socket (its user's).
    const peer = peerOf(socket)
    const owner = credentialOf(peer, gate.required)
    const regions = unixPath === null ? undefined : this.regionDirectories.get(unixPath)
    const connection = this.store.openConnection(owner, peer.uid ?? -1, regions)
    this.recorder?.opened(connection, owner, Number(process.hrtime.bigint()))
    this.sockets.add(socket)
    let helloTimer: NodeJS.Timeout | undefined = setTimeout(() => {
      this.store.countOverflow('hello_timeout')
      socket.destroy()
    }, this.limits.helloTimeoutMs)
    helloTimer.unref()
    // A healthy sender writes STATUS every 10 ms tick: silence this long is a dead or idle peer.
    socket.setTimeout(this.limits.idleTimeoutMs, () => {
      this.store.countOverflow('idle_timeout')
      socket.destroy()
    })
    socket.on('data', (received: Buffer) => {
      // One arrival time for the store and the recording: a replay then matches exactly.
      const at = Number(process.hrtime.bigint())
      const passed = gate.take(received)
      const chunk = passed.bytes ?? Buffer.alloc(0)
      if (chunk.length) this.recorder?.data(connection, chunk, at)
      let error: DecodeError | null | undefined
      try {
        error = passed.error ?? (chunk.length ? this.store.feed(connection, chunk, at) : null)
      } catch (fault) {
        // A fault of ours (the addon threw) on this connection's bytes ends this connection only.
        this.faults.record('ingest', 'handler_error', `${socket.remoteAddress ?? 'a local process'}: ${(fault as Error).stack ?? fault}`)
        socket.destroy()
        return
      }
      if (helloTimer && !error && this.store.connectionProcess(connection)) {
        clearTimeout(helloTimer)
        helloTimer = undefined
      }
      if (!error) return this.held(socket, connection)
      const who = this.store.connectionProcess(connection)
      const from = who ? `pid ${who.pid} (${who.service})` : (socket.remoteAddress ?? 'a local process')
      this.clientLog.warn(`ingest ${error.code}`, `closing ingest connection from ${from}: ${error.code}: ${error.message}`)
      socket.destroy()
    })
    socket.on('error', () => { /* 'close' follows and cleans up */ })
    socket.on('close', () => {
      clearTimeout(helloTimer)
      const at = Number(process.hrtime.bigint())
      this.sockets.delete(socket)
      this.release(socket)
      this.recorder?.closed(connection, at)
      this.store.closeConnection(connection, at)
    })
  }

  // After each chunk: what the connection's decoder holds of an incomplete frame. Past the
  // budget, the connections whose frames began longest ago are closed until it fits: an
  // honest sender's partial frames last microseconds, so it is the hoarders that go.
  private held (socket: net.Socket, connection: number): void {
    const bytes = this.store.bufferedBytes(connection)
    const partial = this.partials.get(socket)
    this.bufferedTotal += bytes - (partial?.bytes ?? 0)
    if (bytes === 0) this.partials.delete(socket)
    else if (partial) partial.bytes = bytes
    else this.partials.set(socket, { connection, bytes })
    if (this.bufferedTotal <= this.limits.bufferedBytes) return
    const oldestFirst = [...this.partials].sort(([, a], [, b]) => this.store.partialSinceNs(a.connection) - this.store.partialSinceNs(b.connection))
    for (const [oldest] of oldestFirst) {
      if (this.bufferedTotal <= this.limits.bufferedBytes) break
      this.cut(oldest, 'buffered_bytes', `incomplete frames held more than ${this.limits.bufferedBytes} bytes in all (IngestLimits.bufferedBytes)`)
    }
  }

  private release (socket: net.Socket): void {
    const partial = this.partials.get(socket)
    if (!partial) return
    this.bufferedTotal -= partial.bytes
    this.partials.delete(socket)
  }

  // A frame begun must end within frameTimeoutMs (checked every second).
  private expireFrames (): void {
    const now = Number(process.hrtime.bigint())
    for (const [socket, { connection }] of this.partials) {
      const age = (now - this.store.partialSinceNs(connection)) / 1e6
      if (age > this.limits.frameTimeoutMs) {
        this.cut(socket, 'frame_timeout', `a frame begun ${Math.round(age)} ms ago is still incomplete (IngestLimits.frameTimeoutMs)`)
      }
    }
  }

  private cut (socket: net.Socket, limit: 'buffered_bytes' | 'frame_timeout', why: string): void {
    this.release(socket)
    this.store.countOverflow(limit)
    this.clientLog.warn(`ingest ${limit}`, `closing ingest connection from ${socket.remoteAddress ?? 'a local process'}: ${why}`)
    socket.destroy()
  }
}

function listen (server: net.Server, options: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening)
      const where = options.path ?? `${options.host}:${options.port}`
      reject(error.code === 'EADDRINUSE'
        ? errors.addressInUse(`${where} is already in use: is another gilwatch server running? Pick another address with --socket/--tcp/--http`)
        : error)
    }
    const onListening = () => { server.off('error', onError); resolve() }
    server.once('error', onError)
    server.once('listening', onListening)
    server.listen(options)
  })
}

function formatHost (host: string): string {
  return host.includes(':') ? `[${host}]` : host
}
