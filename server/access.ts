// Who may read the HTTP side (API, /metrics, dashboard, /ws): every request and WebSocket
// upgrade passes AccessPolicy.check first. The threats and the reasons for each rule are in
// docs/security.md; in short:
// - Host: a web page can make the browser send requests to 127.0.0.1 under a name the page's
//   author controls (DNS rebinding) and then read the answers as same-origin. So a request
//   without a valid token must name this server: an IP address, localhost, *.localhost, or a
//   name given to --allowed-hosts. An attacker's DNS name is none of these. The port is not
//   compared: it does not help against rebinding, and a reverse proxy may forward any port.
// - Origin (WebSocket only): browsers let any page open a WebSocket anywhere, cookies
//   included, and only report the page's Origin. /ws serves the dashboard this server sent,
//   so a browser's upgrade must come from a page at the very host and port it connects to.
//   No Origin means no browser (curl, tests, scripts): those pass.
// - Token (--auth-token-file): when set, everything but /healthz needs it, as a Bearer
//   header or the cookie the dashboard gets by opening /?token=… once (browsers cannot add
//   headers to a page load or a WebSocket). A valid token also stands in for the Host check:
//   a rebinding page cannot know it, and Prometheus can then scrape any host name.
import crypto from 'node:crypto'
import fs from 'node:fs'
import type { IncomingMessage } from 'node:http'
import net from 'node:net'
import { accessErrorCodes, errors, type AccessErrorCode } from './errors'

export type RequestKind = 'http' | 'websocket'

export type Verdict =
  | { kind: 'allow' }
  | { kind: 'refuse', status: 401 | 403, code: AccessErrorCode, message: string, headers: Record<string, string> }
  // A valid ?token= on the dashboard page: set the cookie, then reload `location` without it.
  | { kind: 'enter', cookie: string, location: string }

export interface AccessOptions {
  allowedHosts?: string[] // from parseAllowedHosts: names, or '.domain' for a domain and its subdomains
  token?: string | null
}

const PUBLIC_PATHS = new Set(['/healthz', '/favicon.ico'])
const DASHBOARD_PAGES = new Set(['/', '/index.html'])
const MIN_TOKEN_LENGTH = 16
const TOKEN = /^[A-Za-z0-9._~+/=-]+$/ // base64, hex, UUIDs; all valid in a cookie as they are
const HOST_HEADER = /^(?:\[([0-9a-f:.]+)\]|([a-z0-9_.-]+))(?::(\d{1,5}))?$/i
const HOST_NAME = /^\.?[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?$/

// --allowed-hosts a,b,.example.com
export function parseAllowedHosts (text: string, flag = '--allowed-hosts'): string[] {
  const entries = text.split(',').map((e) => e.trim().toLowerCase()).filter(Boolean)
  if (!entries.length) throw errors.badFlag(`${flag} needs host names, comma-separated (e.g. ${flag} gilwatch.internal,.example.com)`)
  return entries.map((entry) => {
    const name = entry.replace(/^\[|\]$/g, '')
    if (net.isIP(name)) return name // IP addresses are allowed anyway; harmless to list
    if (!HOST_NAME.test(entry)) {
      throw errors.badFlag(`${flag}: "${entry}" is not a host name (names only, without a port or scheme; ".example.com" allows example.com and its subdomains)`)
    }
    return entry.replace(/\.$/, '')
  })
}

export function validateToken (token: string, source: string): string {
  if (token.length < MIN_TOKEN_LENGTH || !TOKEN.test(token)) {
    throw errors.badTokenFile(`${source}: the token must be at least ${MIN_TOKEN_LENGTH} characters of A-Z a-z 0-9 . _ ~ + / = - ` +
      '(make one with `(umask 077; openssl rand -hex 32 > FILE)`)')
  }
  return token
}

// The token of --auth-token-file (or --ingest-token-file: `flag`), trimmed. A file others
// can read is refused: anyone who reads it reads every monitored process's data.
export function readTokenFile (file: string, flag = '--auth-token-file'): string {
  let stat: fs.Stats
  try {
    stat = fs.statSync(file)
  } catch (error) {
    throw errors.badTokenFile(`${flag} ${file}: ${(error as Error).message}`)
  }
  if (!stat.isFile()) throw errors.badTokenFile(`${flag} ${file} is not a file`)
  if (stat.mode & 0o077) {
    throw errors.unsafeTokenFile(`${flag} ${file} is open to other users (mode ${(stat.mode & 0o777).toString(8).padStart(4, '0')}): ` +
      `run \`chmod 600 ${file}\``)
  }
  return validateToken(fs.readFileSync(file, 'utf8').trim(), `${flag} ${file}`)
}

const loopback = new net.BlockList()
loopback.addSubnet('127.0.0.0', 8, 'ipv4')
loopback.addAddress('::1', 'ipv6')
loopback.addSubnet('::ffff:127.0.0.0', 104, 'ipv6')

export function isLoopbackAddress (host: string): boolean {
  const name = host.toLowerCase().replace(/^\[|\]$/g, '')
  if (name === 'localhost') return true
  const family = net.isIP(name)
  return family !== 0 && loopback.check(name, family === 6 ? 'ipv6' : 'ipv4')
}

// Serving HTTP beyond loopback without a token hands every monitored process's data (thread
// names, range names, command lines) to the network: only on an explicit waiver.
export function checkHttpExposure (host: string, options: { token?: string | null, insecureNoAuth?: boolean }): void {
  if (isLoopbackAddress(host) || options.token || options.insecureNoAuth) return
  throw errors.unauthenticatedNetworkHttp(`--http ${host} serves the API, /metrics and the dashboard beyond this machine with no authentication: ` +
    'give --auth-token-file FILE (a random token, chmod 600; docs/security.md), ' +
    'or --insecure-no-auth if everyone who can reach the port may see the monitored processes')
}

function parseHost (value: string): { name: string, port: number | undefined } | null {
  const match = HOST_HEADER.exec(value)
  if (!match || (match[1] !== undefined && !net.isIPv6(match[1]))) return null
  const port = match[3] === undefined ? undefined : Number(match[3])
  return { name: (match[1] ?? match[2]).toLowerCase().replace(/\.$/, ''), port }
}

export const tokenDigest = (text: string | Buffer): Buffer => crypto.createHash('sha256').update(text).digest()

// Compares digests: equal lengths whatever was sent, and no early exit on the first differing
// byte, so response times say nothing about the token.
export function tokenMatches (candidate: string | Buffer, digest: Buffer): boolean {
  return crypto.timingSafeEqual(tokenDigest(candidate), digest)
}

export class AccessPolicy {
  private readonly allowedHosts: string[]
  private readonly tokenDigest: Buffer | null
  private port = 0

  constructor (options: AccessOptions = {}) {
    this.allowedHosts = options.allowedHosts ?? []
    this.tokenDigest = options.token ? tokenDigest(validateToken(options.token, 'the auth token')) : null
  }

  // The bound port names the cookie: two servers on one machine (gilwatch run starts its own)
  // must not overwrite each other's, since cookies ignore ports.
  listening (port: number): void { this.port = port }

  get cookieName (): string { return this.port ? `gilwatch_token_${this.port}` : 'gilwatch_token' }

  hostAllowed (name: string): boolean {
    if (net.isIP(name)) return true
    // Browsers resolve *.localhost to loopback themselves; no DNS answer can rebind them.
    if (name === 'localhost' || name.endsWith('.localhost')) return true
    return this.allowedHosts.some((entry) => (entry.startsWith('.') ? name === entry.slice(1) || name.endsWith(entry) : name === entry))
  }

  check (request: IncomingMessage, kind: RequestKind): Verdict {
    // Split by hand: new URL() would read a path starting with // as a host name.
    const target = request.url ?? '/'
    const queryAt = target.indexOf('?')
    const pathname = queryAt < 0 ? target : target.slice(0, queryAt)
    const query = new URLSearchParams(queryAt < 0 ? '' : target.slice(queryAt + 1))
    const queryToken = kind === 'http' && DASHBOARD_PAGES.has(pathname) ? query.get('token') : null
    const entering = queryToken !== null && this.matches(queryToken)
    const authenticated = entering || this.presentsToken(request)

    const host = request.headers.host
    if (!authenticated && host !== undefined) {
      const parsed = parseHost(host)
      if (!parsed || !this.hostAllowed(parsed.name)) {
        return refuse(403, accessErrorCodes.hostNotAllowed,
          `Host "${host}" is not a name this server answers to: only IP addresses, localhost, *.localhost and names given to ` +
          '--allowed-hosts are (a web page could otherwise read it through DNS rebinding). If you reach gilwatch under this name, ' +
          `start it with --allowed-hosts ${parsed?.name ?? 'NAME'}`)
      }
    }

    const origin = request.headers.origin
    if (kind === 'websocket' && origin !== undefined && !sameOrigin(origin, host)) {
      return refuse(403, accessErrorCodes.originNotAllowed,
        `a WebSocket from a page at ${origin} is refused: /ws only serves the dashboard this server sends, so the page's Origin ` +
        `must be this server (${host ?? 'no Host header'}). Open the dashboard from this server`)
    }

    if (!this.tokenDigest || (kind === 'http' && PUBLIC_PATHS.has(pathname))) return { kind: 'allow' }
    if (entering) {
      query.delete('token')
      const search = query.toString()
      return {
        kind: 'enter',
        cookie: `${this.cookieName}=${queryToken}; Path=/; HttpOnly; SameSite=Strict`,
        location: `${pathname}${search ? `?${search}` : ''}`
      }
    }
    if (!authenticated) {
      const offered = queryToken !== null || request.headers.authorization !== undefined || this.cookie(request) !== undefined
      return refuse(401, accessErrorCodes.unauthorized, offered
        ? 'the token does not match the server\'s --auth-token-file'
        : 'this server needs its token (--auth-token-file): send "Authorization: Bearer TOKEN", or open the dashboard once as /?token=TOKEN')
    }
    return { kind: 'allow' }
  }

  private presentsToken (request: IncomingMessage): boolean {
    if (!this.tokenDigest) return false
    const bearer = /^Bearer +(\S+) *$/i.exec(request.headers.authorization ?? '')
    if (bearer && this.matches(bearer[1])) return true
    const cookie = this.cookie(request)
    return cookie !== undefined && this.matches(cookie)
  }

  private cookie (request: IncomingMessage): string | undefined {
    const prefix = `${this.cookieName}=`
    for (const part of (request.headers.cookie ?? '').split(';')) {
      const item = part.trim()
      if (item.startsWith(prefix)) return item.slice(prefix.length)
    }
    return undefined
  }

  private matches (candidate: string): boolean {
    return this.tokenDigest !== null && tokenMatches(candidate, this.tokenDigest)
  }
}

// Same origin as the request's target: scheme http(s), same host name, same port (an absent
// port is the scheme's default on both sides).
function sameOrigin (origin: string, host: string | undefined): boolean {
  const target = host === undefined ? null : parseHost(host)
  if (!target) return false
  let page: URL
  try {
    page = new URL(origin)
  } catch {
    return false // "null" (file:// pages, sandboxed frames) and anything else unparsable
  }
  if (page.protocol !== 'http:' && page.protocol !== 'https:') return false
  const defaultPort = page.protocol === 'https:' ? 443 : 80
  const pageName = page.hostname.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '')
  return pageName === target.name && (page.port ? Number(page.port) : defaultPort) === (target.port ?? defaultPort)
}

function refuse (status: 401 | 403, code: AccessErrorCode, message: string): Verdict {
  const headers: Record<string, string> = { 'cache-control': 'no-store' }
  if (status === 401) headers['www-authenticate'] = 'Bearer realm="gilwatch"'
  return { kind: 'refuse', status, code, message, headers }
}
