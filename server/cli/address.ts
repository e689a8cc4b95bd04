// Addresses, parsed in one place: where a monitored process sends its data (GILWATCH_ADDR,
// `--addr`) and where the server listens (`--tcp`, `--http`). The injection library parses
// GILWATCH_ADDR with the same grammar in native/injection/config.c; both run the table in
// test/fixtures/addresses.json (test/socket-security.test.ts), so they cannot drift apart.
import { DEFAULT_HTTP_HOST, DEFAULT_HTTP_PORT, DEFAULT_TCP_PORT } from '../config'
import { errors } from '../errors'

export type Address =
  | { transport: 'unix', path: string }
  | { transport: 'tcp', host: string, port: number }

// sizeof(sockaddr_un.sun_path) is 108, terminating NUL included.
export const MAX_SOCKET_PATH_BYTES = 107
// config.c keeps the host in char[256].
const MAX_HOST_BYTES = 255
const HOST_NAME = /^[A-Za-z0-9._-]+$/ // names and IPv4 addresses; IPv6 goes in brackets
const IPV6 = /^[0-9A-Fa-f:.]+$/

// GILWATCH_ADDR: tcp://HOST:PORT (HOST a name, an IPv4 address or [IPv6]; PORT 1-65535),
// unix:/PATH or /PATH. Unset or empty means the default socket; callers apply that default,
// since only they know the environment it comes from. `source` names the input in errors.
export function parseAddress (text: string, source = '--addr'): Address {
  if (text === '') throw errors.badAddress(`${source} is empty: give a socket path, unix:PATH or tcp://HOST:PORT`)
  // "--addr X" for a flag, "GILWATCH_ADDR=X" for a variable, as config.c words it.
  const given = `${source}${source.startsWith('-') ? ' ' : '='}${text}`
  if (text.startsWith('tcp://')) return parseTcp(text, given)
  const socketPath = text.startsWith('unix:') ? text.slice(5) : text
  if (!socketPath.startsWith('/') || Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    throw errors.badAddress(`${given} must be an absolute socket path, unix:PATH or tcp://HOST:PORT ` +
      `(a path under ${MAX_SOCKET_PATH_BYTES + 1} bytes)`)
  }
  return { transport: 'unix', path: socketPath }
}

function parseTcp (text: string, given: string): Address {
  const rest = text.slice('tcp://'.length)
  const match = /^(?:\[([^\]]*)\]|([^:[\]]*)):([0-9]{1,5})$/.exec(rest)
  const host = match ? (match[1] ?? match[2]) : ''
  const port = match ? Number(match[3]) : 0
  const hostOk = match !== null && host.length > 0 && host.length <= MAX_HOST_BYTES &&
    (match[1] !== undefined ? IPV6.test(host) : HOST_NAME.test(host))
  if (!hostOk || port < 1 || port > 65535) {
    // tcp://9478 read as host "947", port 8 before: say what is missing instead.
    const hint = /^[0-9]+$/.test(rest)
      ? `: it has no host (this machine: tcp://127.0.0.1:${rest})`
      : ` with a port from 1 to 65535 (e.g. tcp://127.0.0.1:${DEFAULT_TCP_PORT}; IPv6 in brackets: tcp://[::1]:${DEFAULT_TCP_PORT})`
    throw errors.badAddress(`${given} is not tcp://HOST:PORT${hint}`)
  }
  return { transport: 'tcp', host, port }
}

// A listening address (--tcp, --http): HOST:PORT, [IPv6]:PORT, :PORT or PORT (on
// `defaultHost`); port 0 picks a free port.
export function parseHostPort (text: string, flag: string, defaultHost = DEFAULT_HTTP_HOST): { host: string, port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*))?:?(\d+)$/.exec(text)
  const port = match ? Number(match[3]) : NaN
  if (!match || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw errors.badFlag(`${flag} ${text} is not HOST:PORT (for example 127.0.0.1:${DEFAULT_HTTP_PORT})`)
  }
  return { host: match[1] ?? (match[2] || defaultHost), port }
}
