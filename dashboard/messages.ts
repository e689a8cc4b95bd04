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

export type { HoldCause } from '../server/cause'

export interface LongHold {
  thread: number
  tid: number
  name: string
  startNs: number
  endNs: number
  durationNs: number
  startMs: number
  ongoing: boolean
  waiters: Array<{ thread: number, name: string, waitedNs: number }>
  cause: import('../server/cause').HoldCause | null
}

export interface SeriesMessage { interp: number, columns: number, rows: number[] }

export type ServerMessage =
  | { type: 'processes', processes: ProcessInfo[] }
  | { type: 'full' | 'update', instance: string, live: boolean, windowMs: number, timeline: TimelineMessage, series?: SeriesMessage[], longHolds?: LongHold[] }
