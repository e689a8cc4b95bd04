// The HTTP side: the JSON API, /metrics and the dashboard's files, every request first
// through the access policy (server/access.ts). Path parameters and query strings are
// checked against their declared schemas (server/schemas.ts) before a handler runs; a
// handler that throws answers its own request with 500 and is counted and logged
// (server/client-errors.ts). Connections are capped and timed out (server/http-connections.ts,
// server/web-limits.ts).
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify'
import { AccessPolicy } from './access'
import { ClientErrors } from './client-errors'
import { apiErrorCodes } from './errors'
import { HttpConnections } from './http-connections'
import { RateLimitedLog, createLogger } from './log'
import type { MetricsEndpoint } from './metrics'
import { DEFAULT_RANGES, SERIES_ROWS, instanceParams, longHoldsQuery, rangesQuery, seriesQuery, serviceParams, serviceSeriesQuery, threadsQuery, worstHoldParams, worstHoldsQuery } from './schemas'
import { registerDashboardAssets } from './static'
import type { Store } from './store'
import { SeriesColumn } from './shared/views'
import { WebLimitCounters, defaultWebLimits, type WebLimits } from './web-limits'

export interface HttpOptions {
  store: Store
  metrics: MetricsEndpoint
  access?: AccessPolicy
  limits?: WebLimits
  overflows?: WebLimitCounters
  faults?: ClientErrors
  logRequests?: boolean
}

const escapeHtml = (text: string) => text.replace(/[&<>"]/g, (c) => `&${({ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot' } as Record<string, string>)[c]};`)

export function createHttp ({
  store, metrics, access = new AccessPolicy(), limits = defaultWebLimits, overflows = new WebLimitCounters(),
  faults = new ClientErrors(new RateLimitedLog(createLogger('error'))), logRequests = false
}: HttpOptions): { app: FastifyInstance, connections: HttpConnections } {
  const app = Fastify({
    logger: logRequests,
    // Node's own timers cut requests that do not arrive in time; checked every second, so a
    // connection that never sends a byte lives headersTimeoutMs, not ~90 s.
    http: { headersTimeout: limits.headersTimeoutMs, requestTimeout: limits.requestTimeoutMs, connectionsCheckingInterval: 1000 },
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionTimeout: limits.requestTimeoutMs // no byte either way for this long: closed
  })
  const connections = new HttpConnections(limits, overflows)
  connections.attach(app.server)

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.validation) {
      faults.record('http', 'rejected_request', `${request.method} ${request.url}: ${error.message}`)
      return reply.code(400).send({ error: error.message, code: apiErrorCodes.badQuery })
    }
    const status = error.statusCode ?? 500
    if (status < 500) return reply.code(status).send({ error: error.message, code: error.code ?? apiErrorCodes.badRequest })
    faults.record('http', 'handler_error', `${request.method} ${request.url}: ${error.stack ?? error.message}`)
    return reply.code(500).send({ error: 'internal error: the server logged it (gilwatch_client_errors_total)', code: apiErrorCodes.internal })
  })
  app.setNotFoundHandler((request, reply) => reply.code(404).send({ error: `no such path: ${request.method} ${request.url.split('?')[0]}`, code: apiErrorCodes.notFound }))

  app.addHook('onRequest', async (request, reply) => {
    const verdict = access.check(request.raw, 'http')
    if (verdict.kind === 'refuse') {
      return reply.code(verdict.status).headers(verdict.headers).send({ error: verdict.message, code: verdict.code })
    }
    if (verdict.kind === 'enter') {
      // A page that reloads itself rather than a redirect: after a link from another site, a
      // redirect is still that site's navigation and the browser withholds a SameSite=Strict
      // cookie; a reload from this page is same-site. The token leaves the address bar with it.
      return reply.code(200)
        .headers({ 'set-cookie': verdict.cookie, refresh: `0; url=${verdict.location}`, 'referrer-policy': 'no-referrer', 'cache-control': 'no-store' })
        .type('text/html; charset=utf-8')
        .send(`<!doctype html><meta charset="utf-8"><title>gilwatch</title><a href="${escapeHtml(verdict.location)}">Open the dashboard</a>\n`)
    }
  })

  app.get('/healthz', async () => ({ ok: true }))
  registerDashboardAssets(app)

  app.get('/metrics', async (_request, reply) => {
    reply.type(metrics.contentType)
    return metrics.render()
  })

  // Every process with its threads; per thread and (domain, message): count, total and max
  // duration in ns, and ranges still open. At most IngestLimits.apiResponseBytes: processes
  // beyond it are counted in processesOmitted and can be read one at a time.
  app.get('/api/processes', async () => ({ ...store.processesView(), counters: store.counters() }))

  const noSuchProcess = (instance: string) => ({ error: `no process with instance ${instance}`, code: apiErrorCodes.noSuchProcess })

  // One process, as /api/processes lists it.
  app.get<{ Params: { instance: string } }>('/api/processes/:instance', { schema: { params: instanceParams } }, async (request, reply) => {
    const process = store.process(request.params.instance)
    if (!process) return reply.code(404).send(noSuchProcess(request.params.instance))
    return { process }
  })

  // Recent completed ranges of one process, oldest first per thread: at most `limit`
  // (default 10 000, at most 100 000) after the first `offset`.
  app.get<{ Params: { instance: string }, Querystring: { thread?: number, sinceNs?: number, offset?: number, limit?: number } }>(
    '/api/processes/:instance/ranges', { schema: { params: instanceParams, querystring: rangesQuery } }, async (request, reply) => {
      const { thread, sinceNs, offset, limit = DEFAULT_RANGES } = request.query
      const ranges = store.ranges(request.params.instance, { thread, sinceNs, offset, limit })
      if (!ranges) return reply.code(404).send(noSuchProcess(request.params.instance))
      return { ranges }
    })

  // Holds of at least thresholdMs (default 50), newest first, with who waited during each
  // and why each was long (sampled while it lasted).
  app.get<{ Params: { instance: string }, Querystring: { thresholdMs?: number, limit?: number } }>(
    '/api/processes/:instance/long-holds', { schema: { params: instanceParams, querystring: longHoldsQuery } }, async (request, reply) => {
      const { thresholdMs = 50, limit = 50 } = request.query
      const holds = store.longHolds(request.params.instance, thresholdMs * 1e6, limit)
      if (!holds) return reply.code(404).send(noSuchProcess(request.params.instance))
      return { holds }
    })

  // The GIL series of the last rangeS seconds (default 3600; 0: the whole run), from the finest
  // history tier that fits `points` rows (default and most 4 400): 1 s for an hour, 1 min for a day,
  // 10 min for 30 days. Rows as SeriesColumn says, rates per second over each row's slot.
  app.get<{ Params: { instance: string }, Querystring: { rangeS?: number, points?: number } }>(
    '/api/processes/:instance/series', { schema: { params: instanceParams, querystring: seriesQuery } }, async (request, reply) => {
      const { rangeS = 3600, points = 4400 } = request.query
      const series = store.seriesRange(request.params.instance, rangeS, points)
      if (!series) return reply.code(404).send(noSuchProcess(request.params.instance))
      const kept: typeof series = []
      let rows = 0
      for (const g of series) {
        rows += g.rows.length / g.columns
        if (rows > SERIES_ROWS) break
        kept.push(g)
      }
      return { columns: Object.keys(SeriesColumn), series: kept.map((g) => ({ ...g, rows: Array.from(g.rows) })), gilsOmitted: series.length - kept.length }
    })

  // Services: the processes of each (by name and by who started them), oldest run first; a
  // service restarted during a soak is one history.
  app.get('/api/services', async () => ({ services: store.services() }))

  // One service's history across its runs (each run's main GIL, whole), newest runs first
  // until SERIES_ROWS rows, each with its start: where it restarted.
  app.get<{ Params: { id: string }, Querystring: { points?: number } }>(
    '/api/services/:id/series', { schema: { params: serviceParams, querystring: serviceSeriesQuery } }, async (request, reply) => {
      const series = store.serviceSeries(request.params.id, request.query.points ?? 4400, SERIES_ROWS)
      if (!series) return reply.code(404).send({ error: `no service ${request.params.id}`, code: apiErrorCodes.noSuchService })
      return { ...series, columns: Object.keys(SeriesColumn), runs: series.runs.map((r) => ({ ...r, rows: Array.from(r.rows) })) }
    })

  // Each thread's held and waited time, acquisitions and longest hold, most held first: since
  // the process came, or over a wall-clock span of its threads' history (the dashboard's
  // thread table). At most `limit` rows (default 50) of `total`.
  app.get<{ Params: { instance: string }, Querystring: { limit?: number, fromMs?: number, toMs?: number } }>(
    '/api/processes/:instance/threads', { schema: { params: instanceParams, querystring: threadsQuery } }, async (request, reply) => {
      const { fromMs, toMs, limit } = request.query
      if (fromMs !== undefined && !(toMs! > fromMs)) {
        return reply.code(400).send({ error: 'toMs must be after fromMs', code: apiErrorCodes.badQuery })
      }
      const threads = store.threads(request.params.instance, limit ?? 50, fromMs === undefined ? undefined : { fromMs, toMs: toMs! })
      if (!threads) return reply.code(404).send(noSuchProcess(request.params.instance))
      return threads
    })

  // The longest holds of every run of the service, longest first, each with its run's
  // instance (its timeline: .../processes/:instance/worst-holds/:id/timeline).
  app.get<{ Params: { id: string }, Querystring: { limit?: number } }>(
    '/api/services/:id/worst-holds', { schema: { params: serviceParams, querystring: worstHoldsQuery } }, async (request, reply) => {
      const holds = store.serviceWorstHolds(request.params.id, request.query.limit ?? 100)
      if (!holds) return reply.code(404).send({ error: `no service ${request.params.id}`, code: apiErrorCodes.noSuchService })
      return { holds }
    })

  // The longest holds of the process's whole run (at most 100 kept), longest first: the
  // rings above keep the latest ranges only.
  app.get<{ Params: { instance: string }, Querystring: { limit?: number } }>(
    '/api/processes/:instance/worst-holds', { schema: { params: instanceParams, querystring: worstHoldsQuery } }, async (request, reply) => {
      const holds = store.worstHolds(request.params.instance, request.query.limit ?? 100)
      if (!holds) return reply.code(404).send(noSuchProcess(request.params.instance))
      return { holds }
    })

  // Every thread's timeline from 1 s before a worst hold to 1 s after, as it was then.
  app.get<{ Params: { instance: string, id: number } }>(
    '/api/processes/:instance/worst-holds/:id/timeline', { schema: { params: worstHoldParams } }, async (request, reply) => {
      const { instance, id } = request.params
      if (!store.process(instance)) return reply.code(404).send(noSuchProcess(instance))
      const timeline = store.worstHoldTimeline(instance, id)
      if (!timeline) return reply.code(404).send({ error: `no worst hold ${id} with a timeline in process ${instance}`, code: apiErrorCodes.noSuchHold })
      return { timeline: { ...timeline, lanes: timeline.lanes.map((l) => ({ ...l, items: Array.from(l.items) })) } }
    })

  return { app, connections }
}
