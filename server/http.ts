// The HTTP side: the JSON API, /metrics and the dashboard's files, every request first
// through the access policy (server/access.ts).
import Fastify, { type FastifyInstance } from 'fastify'
import { AccessPolicy } from './access'
import { apiErrorCodes } from './errors'
import { createMetrics } from './metrics'
import { registerDashboardAssets } from './static'
import type { Store } from './store'

export interface HttpOptions { store: Store, access?: AccessPolicy, logRequests?: boolean }

const escapeHtml = (text: string) => text.replace(/[&<>"]/g, (c) => `&${({ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot' } as Record<string, string>)[c]};`)

export function createHttp ({ store, access = new AccessPolicy(), logRequests = false }: HttpOptions): FastifyInstance {
  const app = Fastify({ logger: logRequests })

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

  const metrics = createMetrics(store)
  app.get('/metrics', async (_request, reply) => {
    reply.type(metrics.contentType)
    return metrics.render()
  })

  // Every process with its threads; per thread and (domain, message): count, total and max
  // duration in ns, and ranges still open. At most IngestLimits.apiResponseBytes: processes
  // beyond it are counted in processesOmitted and can be read one at a time.
  app.get('/api/processes', async () => ({ ...store.processesView(), counters: store.counters() }))

  // One process, as /api/processes lists it.
  app.get<{ Params: { instance: string } }>('/api/processes/:instance', async (request, reply) => {
    const process = store.process(request.params.instance)
    if (!process) return reply.code(404).send({ error: `no process with instance ${request.params.instance}`, code: apiErrorCodes.noSuchProcess })
    return { process }
  })

  // Recent completed ranges of one process (bounded per thread), oldest first.
  app.get<{
    Params: { instance: string }
    Querystring: { thread?: string, sinceNs?: string, limit?: string }
  }>('/api/processes/:instance/ranges', async (request, reply) => {
    const { thread, sinceNs, limit } = request.query
    const number = (v: string | undefined) => (v === undefined || v === '' ? undefined : Number(v))
    const query = { thread: number(thread), sinceNs: number(sinceNs), limit: number(limit) }
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && !(Number.isFinite(value) && value >= 0)) {
        return reply.code(400).send({ error: `${name} must be a non-negative number`, code: apiErrorCodes.badQuery })
      }
    }
    const ranges = store.ranges(request.params.instance, query)
    if (!ranges) return reply.code(404).send({ error: `no process with instance ${request.params.instance}`, code: apiErrorCodes.noSuchProcess })
    return { ranges }
  })

  // Holds of at least thresholdMs (default 50), newest first, with who waited during each
  // and why each was long (sampled while it lasted).
  app.get<{ Params: { instance: string }, Querystring: { thresholdMs?: string, limit?: string } }>(
    '/api/processes/:instance/long-holds', async (request, reply) => {
      const thresholdMs = request.query.thresholdMs === undefined ? 50 : Number(request.query.thresholdMs)
      const limit = request.query.limit === undefined ? 50 : Number(request.query.limit)
      if (!(thresholdMs > 0) || !(Number.isInteger(limit) && limit > 0)) {
        return reply.code(400).send({ error: 'thresholdMs must be a positive number and limit a positive whole number', code: apiErrorCodes.badQuery })
      }
      const holds = /^[0-9a-f]{16}$/.test(request.params.instance) ? store.longHolds(request.params.instance, thresholdMs * 1e6, limit) : null
      if (!holds) return reply.code(404).send({ error: `no process with instance ${request.params.instance}`, code: apiErrorCodes.noSuchProcess })
      return { holds }
    })

  return app
}
