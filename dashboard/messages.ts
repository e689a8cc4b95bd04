// Messages from the server's /ws (server/dashboard.ts).
export interface ProcessInfo {
  instance: string
  pid: number
  service: string
  state: 'connected' | 'disconnected' | 'retired'
  argv: string[]
  connectedAtMs: number
  droppedEvents: number
  threads: number
}

export interface TimelineMessage {
  baseNs: number // absolute ns of time offset 0 (the process's monotonic clock)
  wallAtStartMs: number // wall time of baseNs
  endUs: number
  nowUs: number
  strings: string[]
  // items: [start µs, end µs, kind (0 hold, 1 wait, 2 user; +16 open), count, fill, message index] × n
  lanes: Array<{ thread: number, tid: number, name: string, exited: boolean, items: number[] }>
}

import type { LongHold, ThreadsView } from '../server/store'
export type { HoldCause } from '../server/cause'
// The same objects /api/processes/:instance/long-holds returns.
export type { LongHold }
// The store's view, as server/dashboard.ts sends it.
export type { ThreadsView }

export interface SeriesMessage { interp: number, columns: number, rows: number[] }

export type ServerMessage =
  | { type: 'processes', processes: ProcessInfo[] }
  | { type: 'full' | 'update', instance: string, live: boolean, windowMs: number, timeline: TimelineMessage, series?: SeriesMessage[], longHolds?: LongHold[], threads?: ThreadsView | null }
