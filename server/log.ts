// Plain, line-oriented logging to stderr: the server's own messages (not HTTP access logs).
export type LogLevel = 'silent' | 'error' | 'warn' | 'info'
const rank: Record<LogLevel, number> = { silent: 0, error: 1, warn: 2, info: 3 }

export interface Logger {
  error(message: string): void
  warn(message: string): void
  info(message: string): void
}

// Messages quote text from clients (service names, thread names, error details): control
// characters are escaped so a client cannot forge a line or send terminal escapes, and so are
// the bidirectional controls (U+202E and kin), which reorder what a terminal shows. The run
// summary and `gilwatch report` print names through the same function.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g
export const escapeControl = (text: string) => text.replace(CONTROL, (c) =>
  c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)

export function createLogger (level: LogLevel = 'info', write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const emit = (at: LogLevel) => (message: string) => {
    if (rank[at] <= rank[level]) write(`${new Date().toISOString()} gilwatch ${at}: ${escapeControl(message)}\n`)
  }
  return { error: emit('error'), warn: emit('warn'), info: emit('info') }
}

// Lines about what clients did (a connection closed for breaking the protocol, a message
// refused) are written at most `perSecond` a second per kind: a client that repeats a fault
// thousands of times a second cannot fill the disk or drown the other lines. The rest are
// counted and summed up in one line once the second is over ("… 2 890 similar lines
// suppressed"); `suppressed` is gilwatch_log_lines_suppressed_total.
export class RateLimitedLog {
  private readonly kinds = new Map<string, { windowStart: number, written: number, suppressed: number, timer?: NodeJS.Timeout }>()
  suppressed = 0

  constructor (private readonly log: Logger, private readonly perSecond = 5, private readonly now = () => Date.now()) {}

  warn (kind: string, message: string): void {
    const now = this.now()
    let state = this.kinds.get(kind)
    if (!state || now - state.windowStart >= 1000) {
      if (state) this.summarize(kind, state)
      state = { windowStart: now, written: 0, suppressed: 0 }
      this.kinds.set(kind, state)
    }
    if (state.written < this.perSecond) {
      state.written++
      this.log.warn(message)
      return
    }
    state.suppressed++
    this.suppressed++
    if (!state.timer) {
      const current = state
      current.timer = setTimeout(() => {
        this.summarize(kind, current)
        if (this.kinds.get(kind) === current) this.kinds.delete(kind)
      }, Math.max(0, current.windowStart + 1000 - now))
      current.timer.unref()
    }
  }

  private summarize (kind: string, state: { suppressed: number, timer?: NodeJS.Timeout }): void {
    if (state.timer) clearTimeout(state.timer)
    state.timer = undefined
    if (state.suppressed) this.log.warn(`${state.suppressed} similar lines suppressed in the last second (${kind})`)
    state.suppressed = 0
  }

  // Pending summaries are written at once (the server is stopping).
  close (): void {
    for (const [kind, state] of this.kinds) this.summarize(kind, state)
    this.kinds.clear()
  }
}
