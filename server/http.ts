// The HTTP side: JSON API for people and tests (later also /metrics and the dashboard).
import Fastify, { type FastifyInstance } from 'fastify'
import { createMetrics } from './metrics'
import { registerDashboardAssets } from './static'
import type { Store } from './store'

export interface HttpOptions { store: Store, logRequests?: boolean }

export function createHttp ({ store, logRequests = false }: HttpOptions): FastifyInstance {
  const app = Fastify({ logger: logRequests })

  app.get('/healthz', async () => ({ ok: true }))
  registerDashboardAssets(app)

  const metrics = createMetrics(store)
  app.get('/metrics', async (_request, reply) => {
    reply.type(metrics.contentType)
    return metrics.render()
  })

  // Every process with its threads; per thread and (domain, message): count, total and max
  // duration in ns, and ranges still open.
  app.get('/api/processes', async () => ({ processes: store.processes(), counters: store.counters() }))

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
        return reply.code(400).send({ error: `${name} must be a non-negative number` })
      }
    }
    const ranges = store.ranges(request.params.instance, query)
    if (!ranges) return reply.code(404).send({ error: `no process with instance ${request.params.instance}` })
    return { ranges }
  })

  // Holds of at least thresholdMs (default 50), newest first, with who waited during each
  // and why each was long (sampled while it lasted).
  app.get<{ Params: { instance: string }, Querystring: { thresholdMs?: string, limit?: string } }>(
    '/api/processes/:instance/long-holds', async (request, reply) => {
      const thresholdMs = request.query.thresholdMs === undefined ? 50 : Number(request.query.thresholdMs)
      const limit = request.query.limit === undefined ? 50 : Number(request.query.limit)
      if (!(thresholdMs > 0) || !(Number.isInteger(limit) && limit > 0)) {
        return reply.code(400).send({ error: 'thresholdMs must be a positive number and limit a positive whole number' })
      }
      const holds = /^[0-9a-f]{16}$/.test(request.params.instance) ? store.longHolds(request.params.instance, thresholdMs * 1e6, limit) : null
      if (!holds) return reply.code(404).send({ error: `no process with instance ${request.params.instance}` })
      return { holds }
    })

  return app
}
