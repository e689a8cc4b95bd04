// Every input the HTTP side takes from a client, declared once as JSON Schema and checked
// before any field is read: the dashboard's WebSocket messages (compiled here with Ajv) and
// the API's path parameters and query strings (given to fastify's routes, which validate
// them with the same Ajv). Ingest frames have their schema in the protocol header
// (native/protocol/gilwatch_protocol.h), recordings in server/recording.ts.
import Ajv, { type ErrorObject } from 'ajv'

const INSTANCE = { type: 'string', pattern: '^[0-9a-f]{16}$' } as const

// The longest chart range a client may ask for (the history's coarsest tier keeps 30 days).
export const MAX_CHART_RANGE_S = 31 * 86_400
// Wall times in ms a client may name: up to the year 2286.
const MAX_WALL_MS = 1e13

// {"type":"subscribe", ...}: which process the dashboard shows and how. Numbers out of their
// useful range are clamped by the hub (server/dashboard.ts), not refused: a narrow window
// asks for less than 100 px. `live: false` with startNs and endNs freezes a view of that
// span (paused, zoomed); `live: false` alone follows the process as live does; `live: false`
// with worstHold shows the timeline kept around that worst hold (GET .../worst-holds).
// chartFromMs and chartToMs: the charts zoomed to that span (wall ms) of their range; the
// thread table and the worst holds follow it.
export const subscribeSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type'],
  properties: {
    type: { const: 'subscribe' },
    instance: { anyOf: [INSTANCE, { type: 'null' }] },
    live: { type: 'boolean' },
    windowMs: { type: 'number' },
    widthPx: { type: 'number' },
    longHoldMs: { type: 'number' },
    startNs: { type: 'number', minimum: 0 },
    endNs: { type: 'number', minimum: 0 },
    worstHold: { type: 'integer', minimum: 1, maximum: 0xffffffff },
    chartRangeS: { type: 'integer', minimum: 0, maximum: MAX_CHART_RANGE_S },
    chartFromMs: { type: 'number', minimum: 0, maximum: MAX_WALL_MS },
    chartToMs: { type: 'number', minimum: 0, maximum: MAX_WALL_MS },
    service: INSTANCE
  },
  dependencies: { startNs: ['endNs'], endNs: ['startNs'], chartFromMs: ['chartToMs'], chartToMs: ['chartFromMs'] }
} as const

export interface SubscribeMessage {
  type: 'subscribe'
  instance?: string | null
  live?: boolean
  windowMs?: number
  widthPx?: number
  longHoldMs?: number
  startNs?: number
  endNs?: number
  worstHold?: number // with live: false, the timeline kept with that worst hold
  chartRangeS?: number // the charts' range: 300 (the live 5 minutes, by default), longer, or 0: the whole run
  chartFromMs?: number // the charts zoomed in: wall ms, with chartToMs
  chartToMs?: number
  service?: string // a service's id: its newest run, and its charts across every run
}

// strictNumbers: JSON.parse turns 1e999 into Infinity, which no schema here means.
const ajv = new Ajv({ strict: true, strictNumbers: true, allErrors: false })
const validateSubscribe = ajv.compile<SubscribeMessage>(subscribeSchema)

export type Parsed<T> = { ok: true, value: T } | { ok: false, error: string }

// A dashboard message, from its text. The error names the first field that is wrong.
export function parseDashboardMessage (text: string): Parsed<SubscribeMessage> {
  let message: unknown
  try {
    message = JSON.parse(text)
  } catch {
    return { ok: false, error: 'not JSON' }
  }
  if (!validateSubscribe(message)) return { ok: false, error: describe(validateSubscribe.errors) }
  if (message.startNs !== undefined && !(message.endNs! > message.startNs)) {
    return { ok: false, error: '/endNs must be after /startNs' }
  }
  if (message.chartFromMs !== undefined && !(message.chartToMs! > message.chartFromMs)) {
    return { ok: false, error: '/chartToMs must be after /chartFromMs' }
  }
  return { ok: true, value: message }
}

function describe (errors: ErrorObject[] | null | undefined): string {
  const error = errors?.[0]
  if (!error) return 'invalid'
  const where = error.instancePath || '(the message)'
  if (error.keyword === 'additionalProperties') return `${where} has an unknown field "${(error.params as { additionalProperty: string }).additionalProperty}"`
  return `${where} ${error.message ?? 'is invalid'}`
}

// ---- The HTTP API: path parameters and query strings (fastify route schemas) ----
// fastify coerces query strings to the declared types, then validates; a request that fails
// gets 400 with GW_ERR_BAD_QUERY (server/http.ts).

export const instanceParams = {
  type: 'object',
  required: ['instance'],
  properties: { instance: INSTANCE }
} as const

// /api/processes/:instance/ranges. At most MAX_RANGES per answer: a process keeps up to
// --recent ranges for each of its threads, far more than one answer should carry; page with
// offset.
export const MAX_RANGES = 100_000
export const DEFAULT_RANGES = 10_000
export const rangesQuery = {
  type: 'object',
  properties: {
    thread: { type: 'integer', minimum: 0, maximum: 0xffffffff },
    sinceNs: { type: 'number', minimum: 0 },
    offset: { type: 'integer', minimum: 0, maximum: 0xffffffff },
    limit: { type: 'integer', minimum: 1, maximum: MAX_RANGES }
  }
} as const

// /api/processes/:instance/series: the last rangeS seconds (0: the whole run), at most
// `points` rows per GIL (from the finest history tier that fits), and at most SERIES_ROWS
// rows in all: a process with many GILs gets its first ones (`gilsOmitted` says how many not).
export const SERIES_ROWS = 16_000
export const seriesQuery = {
  type: 'object',
  properties: {
    rangeS: { type: 'integer', minimum: 0, maximum: MAX_CHART_RANGE_S },
    points: { type: 'integer', minimum: 1, maximum: 4400 }
  }
} as const

// /api/services/:id/series
export const serviceParams = {
  type: 'object',
  required: ['id'],
  properties: { id: INSTANCE } // 16 hex digits, like an instance
} as const
export const serviceSeriesQuery = {
  type: 'object',
  properties: { points: { type: 'integer', minimum: 1, maximum: 4400 } }
} as const

// /api/processes/:instance/worst-holds
export const worstHoldsQuery = {
  type: 'object',
  properties: { limit: { type: 'integer', minimum: 1, maximum: 100 } }
} as const

// /api/processes/:instance/threads: the table over a wall-clock span (both, toMs after
// fromMs), or since the process came (neither).
export const threadsQuery = {
  type: 'object',
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: 1000 },
    fromMs: { type: 'number', minimum: 0, maximum: MAX_WALL_MS },
    toMs: { type: 'number', minimum: 0, maximum: MAX_WALL_MS }
  },
  dependencies: { fromMs: ['toMs'], toMs: ['fromMs'] }
} as const

// /api/processes/:instance/worst-holds/:id/timeline
export const worstHoldParams = {
  type: 'object',
  required: ['instance', 'id'],
  properties: { instance: INSTANCE, id: { type: 'integer', minimum: 1, maximum: 0xffffffff } }
} as const

// /api/processes/:instance/long-holds
export const longHoldsQuery = {
  type: 'object',
  properties: {
    thresholdMs: { type: 'number', exclusiveMinimum: 0 },
    limit: { type: 'integer', minimum: 1, maximum: 10_000 }
  }
} as const
