// Faults a client caused, contained to that client: a message that fails its schema, a
// request a handler could not answer. Each closes or answers only that client, is counted
// in gilwatch_client_errors_total{surface, reason} and is logged at a bounded rate
// (RateLimitedLog), so no client can take the server down or flood its log.
import type { RateLimitedLog } from './log'

export type ClientSurface = 'http' | 'websocket' | 'ingest'
// invalid_message: not JSON, or not what the schema declares; rejected_request: an HTTP
// request that failed its schema (400); handler_error: a bug of ours met by this client's
// input (500 or a closed WebSocket), which must still reach the log.
export type ClientErrorReason = 'invalid_message' | 'rejected_request' | 'handler_error'

export class ClientErrors {
  private readonly counts = new Map<string, number>()

  constructor (private readonly log: RateLimitedLog) {}

  record (surface: ClientSurface, reason: ClientErrorReason, detail: string): void {
    const key = `${surface}\u0000${reason}`
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1)
    this.log.warn(`${surface} ${reason}`, `${surface} client: ${reason}: ${detail}`)
  }

  snapshot (): Array<{ surface: ClientSurface, reason: ClientErrorReason, count: number }> {
    return [...this.counts].map(([key, count]) => {
      const [surface, reason] = key.split('\u0000') as [ClientSurface, ClientErrorReason]
      return { surface, reason, count }
    })
  }
}
