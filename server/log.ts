// Plain, line-oriented logging to stderr: the server's own messages (not HTTP access logs).
export type LogLevel = 'silent' | 'error' | 'warn' | 'info'
const rank: Record<LogLevel, number> = { silent: 0, error: 1, warn: 2, info: 3 }

export interface Logger {
  error(message: string): void
  warn(message: string): void
  info(message: string): void
}

export function createLogger (level: LogLevel = 'info', write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const emit = (at: LogLevel) => (message: string) => {
    if (rank[at] <= rank[level]) write(`${new Date().toISOString()} gilwatch ${at}: ${message}\n`)
  }
  return { error: emit('error'), warn: emit('warn'), info: emit('info') }
}
