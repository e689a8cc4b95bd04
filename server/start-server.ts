// Starts a complete server: store, ingest listeners and HTTP. Used by `gilwatch serve`,
// `gilwatch run` and the tests.
import net from 'node:net'
import { AccessPolicy, checkHttpExposure, isLoopbackAddress } from './access'
import { DEFAULT_HTTP_HOST, DEFAULT_HTTP_PORT, defaultSocketPath } from './config'
import { DashboardHub } from './dashboard'
import { createHttp } from './http'
import { Ingest, type IngestAddress } from './ingest'
import { IngestToken, checkIngestExposure } from './ingest-auth'
import { resolveIngestLimits } from './limits'
import { ClientErrors } from './client-errors'
import { RateLimitedLog, createLogger, type Logger } from './log'
import { createMetrics } from './metrics'
import { Recorder, type RecorderTarget } from './recording'
import { Store, type StoreOptions } from './store'
import { WebLimitCounters, resolveWebLimits, type WebLimits } from './web-limits'

// argvMode (how much of a command line the API and dashboard show) is a StoreOptions field.
export interface ServeOptions extends StoreOptions {
  socket?: string | null // null: no Unix socket
  tcp?: { host: string, port: number } | null
  http?: { host: string, port: number } | null
  allowedHosts?: string[] // Host names served besides IP addresses and localhost (access.ts)
  authToken?: string | null // required on everything but /healthz when set
  insecureNoAuth?: boolean // allow a non-loopback --http without authToken
  ingestToken?: string | null // required first (AUTH frame) on TCP ingest connections when set
  insecureNoIngestToken?: boolean // allow a non-loopback tcp without ingestToken
  logger?: Logger
  logRequests?: boolean
  webLimits?: Partial<WebLimits> // over server/web-limits.ts's defaults
  record?: RecorderTarget // the raw ingest stream to a file
}

export interface RunningServer {
  store: Store
  dashboard: DashboardHub
  ingest: IngestAddress[]
  httpUrl: string | null
  close(): Promise<void>
}

export async function startServer (options: ServeOptions = {}): Promise<RunningServer> {
  const log = options.logger ?? createLogger()
  const http = options.http === undefined ? { host: DEFAULT_HTTP_HOST, port: DEFAULT_HTTP_PORT } : options.http
  if (http) checkHttpExposure(http.host, { token: options.authToken, insecureNoAuth: options.insecureNoAuth })
  const ingestToken = options.ingestToken ? new IngestToken(options.ingestToken) : null
  if (options.tcp) checkIngestExposure(options.tcp.host, { token: ingestToken, insecureNoIngestToken: options.insecureNoIngestToken })
  // A server bound by name (--http myhost:9477) answers to that name.
  const boundName = http && !net.isIP(http.host) && !isLoopbackAddress(http.host) ? [http.host.toLowerCase()] : []
  const access = new AccessPolicy({ allowedHosts: [...(options.allowedHosts ?? []), ...boundName], token: options.authToken })
  const limits = resolveIngestLimits(options.limits)
  // Definitions are kept per connection only for a recording's rotation (server/recording.ts).
  const store = new Store({ ...options, limits, keepDefinitions: Boolean(options.record) })
  const recorder = options.record ? new Recorder(options.record, store, (message) => log.error(message)) : undefined
  // What clients do wrong is contained to them, counted and logged at a bounded rate.
  const webLimits = resolveWebLimits(options.webLimits)
  const clientLog = new RateLimitedLog(log, webLimits.logLinesPerSecond)
  const faults = new ClientErrors(clientLog)
  const overflows = new WebLimitCounters()
  const ingest = new Ingest(store, clientLog, log, faults, recorder, limits, ingestToken)
  const dashboard = new DashboardHub(store, faults, overflows, webLimits)
  const metrics = createMetrics(store, {
    webOverflows: () => overflows.snapshot(),
    clientErrors: () => faults.snapshot(),
    logLinesSuppressed: () => clientLog.suppressed,
    httpConnections: () => connections.count,
    dashboardClients: () => dashboard.stats().clients
  })
  const { app, connections } = createHttp({ store, metrics, access, limits: webLimits, overflows, faults, logRequests: options.logRequests })
  dashboard.attach(app.server, access)
  const addresses: IngestAddress[] = []
  let httpUrl: string | null = null
  try {
    const socket = options.socket === undefined ? defaultSocketPath() : options.socket
    if (socket) addresses.push(await ingest.listenUnix(socket))
    if (options.tcp) addresses.push(await ingest.listenTcp(options.tcp.host, options.tcp.port))
    if (http) {
      await app.listen({ host: http.host, port: http.port })
      const bound = app.server.address()
      const port = typeof bound === 'object' && bound ? bound.port : http.port
      access.listening(port)
      httpUrl = `http://${http.host.includes(':') ? `[${http.host}]` : http.host}:${port}`
    }
  } catch (error) {
    dashboard.close()
    await ingest.close()
    await app.close()
    recorder?.discard()
    clientLog.close()
    store.close()
    throw error
  }
  return {
    store,
    dashboard,
    ingest: addresses,
    httpUrl,
    async close () {
      dashboard.close()
      await ingest.close()
      await app.close()
      recorder?.close()
      clientLog.close()
      store.close()
    }
  }
}
