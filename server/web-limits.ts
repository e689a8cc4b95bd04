// The HTTP and WebSocket side's limits (docs/security.md, "The web side's limits"): every
// resource a client of the HTTP server can hold, with its default, and the count of times
// a client ran into each. The ingest side's limits are enforced natively and defined in
// native/protocol/ingest_limits.h; both are counted in gilwatch_limit_overflows_total, by
// their `limit` label.
export interface WebLimits {
  // Open HTTP connections, WebSockets included: each is a file descriptor, and the server
  // has 20 000 at most on this kind of machine.
  httpConnections: number
  // Per peer: a local user (the kernel knows its uid) or a remote address (an IPv6 /64).
  // Prometheus, a browser and the CLI each need a handful.
  httpConnectionsPerPeer: number
  // A request's headers must have arrived this soon after the connection opened (or after
  // the previous request on it); the whole request this soon.
  headersTimeoutMs: number
  requestTimeoutMs: number
  // An idle keep-alive connection is closed after this long: longer than a 60 s scrape
  // interval, so Prometheus keeps its connection (idle ones make room at the limits anyway).
  keepAliveTimeoutMs: number
  // Dashboard WebSockets, in all and per peer.
  wsClients: number
  wsClientsPerPeer: number
  // A dashboard message: a subscription is about 200 bytes.
  wsMessageBytes: number
  // Dashboard messages per second per client, sustained (twice that in a burst). A client
  // that sends more is disconnected. However many it sends, the server computes at most one
  // update per client per 100 ms tick, and none while the last one is still being sent.
  wsMessagesPerSecond: number
  // Lines per second per kind about what clients did; the rest are summed up.
  logLinesPerSecond: number
}

export const defaultWebLimits: Readonly<WebLimits> = Object.freeze({
  httpConnections: 1024,
  httpConnectionsPerPeer: 128,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 65_000,
  wsClients: 512,
  wsClientsPerPeer: 64,
  wsMessageBytes: 4096,
  wsMessagesPerSecond: 20,
  logLinesPerSecond: 5
})

export function resolveWebLimits (overrides: Partial<WebLimits> = {}): WebLimits {
  const limits = { ...defaultWebLimits }
  for (const [name, value] of Object.entries(overrides)) {
    if (!(name in limits)) throw new Error(`unknown web limit ${name}`)
    if (value !== undefined) (limits as Record<string, number>)[name] = value
  }
  return limits
}

// The `limit` label values of the web side's overflows.
export const webLimitKinds = [
  'http_connections', 'http_connections_per_peer', 'http_timeout',
  'ws_clients', 'ws_clients_per_peer', 'ws_message_bytes', 'ws_message_rate'
] as const
export type WebLimitKind = typeof webLimitKinds[number]

export class WebLimitCounters {
  private readonly counts = new Map<WebLimitKind, number>(webLimitKinds.map((k) => [k, 0]))

  count (kind: WebLimitKind): void { this.counts.set(kind, this.counts.get(kind)! + 1) }
  snapshot (): Record<WebLimitKind, number> { return Object.fromEntries(this.counts) as Record<WebLimitKind, number> }
}
