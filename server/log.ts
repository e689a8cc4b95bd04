// Plain, line-oriented logging to stderr: the server's own messages (not HTTP access logs).
export type LogLevel = 'silent' | 'error' | 'warn' | 'info'
const rank: Record<LogLevel, number> = { silent: 0, error: 1, warn: 2, info: 3 }

export interface Logger {
  error(message: string): void
  warn(message: string): void
  info(message: string): void
}

// Messages quote text from clients (service names, thread names, error details): control
// characters are escaped so a client cannot forge a line or send the terminal escapes.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g
export const escapeControl = (text: string) => text.replace(CONTROL, (c) =>
  c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)

export function createLogger (level: LogLevel = 'info', write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const emit = (at: LogLevel) => (message: string) => {
    if (rank[at] <= rank[level]) write(`${new Date().toISOString()} gilwatch ${at}: ${escapeControl(message)}\n`)
  }
  return { error: emit('error'), warn: emit('warn'), info: emit('info') }
}
