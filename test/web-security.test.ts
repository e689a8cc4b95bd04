// The web side's access control (docs/security.md) over real HTTP and real WebSockets against
// startServer, then through a real Prometheus and a real Chromium: the Host allowlist (DNS
// rebinding), the WebSocket Origin check, the optional token with the dashboard's cookie, the
// refusal to serve the network without a token, and how much of a command line --argv lets out.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import path from 'node:path'
import { test } from 'node:test'
import { chromium } from 'playwright-core'
import WebSocket from 'ws'
import { checkHttpExposure, parseAllowedHosts, readTokenFile } from '../server/access'
import { redactArgv, type ArgvMode } from '../server/argv'
import { GilwatchError } from '../server/errors'
import { encodeHello } from '../server/protocol'
import { startServer } from '../server/start-server'
import { defaultWebLimits, webLimitKinds } from '../server/web-limits'
import type { ProcessListEntry, ProcessSnapshot } from '../server/shared/views'
import { documentedLimits, repoRoot, startPrometheus, startTestServer, tempDir, waitFor, type TestServer } from './helpers'

const TOKEN = 'c0ffee-0123456789abcdef-token'
const gilwatch = path.join(repoRoot, 'bin', 'gilwatch.js')

interface Answer { status: number, headers: http.IncomingHttpHeaders, body: string }

// node:http rather than fetch: fetch does not let a test choose the Host header.
function get (server: TestServer, pathname: string, headers: Record<string, string> = {}): Promise<Answer> {
  const url = new URL(server.httpUrl!)
  return new Promise((resolve, reject) => {
    const request = http.request({ host: url.hostname, port: url.port, path: pathname, headers }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk) => { body += chunk })
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body }))
    })
    request.on('error', reject)
    request.end()
  })
}

type Upgrade = { open: true, first: any } | { open: false, status: number, body: any }

// Opens /ws and returns its first message, or the HTTP answer that refused the upgrade.
function connect (server: TestServer, headers: Record<string, string> = {}): Promise<Upgrade> {
  const { origin, ...rest } = headers
  const socket = new WebSocket(`${server.httpUrl!.replace('http', 'ws')}/ws`, { headers: rest, origin })
  return new Promise((resolve, reject) => {
    socket.once('message', (data) => {
      socket.close()
      resolve({ open: true, first: JSON.parse(data.toString()) })
    })
    socket.once('unexpected-response', (_request, response) => {
      let body = ''
      response.on('data', (chunk) => { body += chunk })
      response.on('end', () => resolve({ open: false, status: response.statusCode!, body: JSON.parse(body) }))
    })
    socket.once('error', reject)
    socket.on('error', () => {}) // after a refusal, ws may still report the aborted handshake
  })
}

const port = (server: TestServer) => new URL(server.httpUrl!).port

test('API refusals carry a stable code: a bad query is 400 GW_ERR_BAD_QUERY, an unknown process 404 GW_ERR_NO_SUCH_PROCESS', async () => {
  const server = await startTestServer()
  try {
    const cases: Array<[string, number, string]> = [
      ['/api/processes/0123456789abcdef/ranges?limit=-1', 400, 'GW_ERR_BAD_QUERY'],
      ['/api/processes/0123456789abcdef/long-holds?thresholdMs=0', 400, 'GW_ERR_BAD_QUERY'],
      ['/api/processes/0123456789abcdef/ranges', 404, 'GW_ERR_NO_SUCH_PROCESS'],
      ['/api/processes/0123456789abcdef/long-holds', 404, 'GW_ERR_NO_SUCH_PROCESS'],
      ['/api/processes/0123456789abcdef/worst-holds', 404, 'GW_ERR_NO_SUCH_PROCESS'],
      ['/api/processes/0123456789abcdef/worst-holds/1/timeline', 404, 'GW_ERR_NO_SUCH_PROCESS'],
      ['/api/processes/0123456789abcdef/worst-holds/0/timeline', 400, 'GW_ERR_BAD_QUERY'],
      ['/api/processes/0123456789abcdef/worst-holds?limit=101', 400, 'GW_ERR_BAD_QUERY']
    ]
    for (const [pathname, status, code] of cases) {
      const answer = await get(server, pathname)
      assert.equal(answer.status, status, pathname)
      const body = JSON.parse(answer.body)
      assert.equal(body.code, code, pathname)
      assert.ok(body.error.length > 10, `${pathname}: a message, ${answer.body}`)
    }
  } finally {
    await server.close()
  }
})

test('a Host that is not an allowed name is refused on the API, /metrics, the dashboard and /ws', async () => {
  const server = await startTestServer({ allowedHosts: parseAllowedHosts('gilwatch.internal,.example.com') })
  try {
    for (const pathname of ['/api/processes', '/metrics', '/', '/healthz']) {
      const answer = await get(server, pathname, { host: `evil.example:${port(server)}` })
      assert.equal(answer.status, 403, pathname)
      const body = JSON.parse(answer.body)
      assert.equal(body.code, 'GW_ERR_HOST_NOT_ALLOWED', pathname)
      assert.match(body.error, /start it with --allowed-hosts evil\.example$/)
      assert.doesNotMatch(answer.body, /processes/, 'nothing of the API leaks into the refusal')
    }
    const ws = await connect(server, { host: `evil.example:${port(server)}` })
    assert.deepEqual(ws.open ? 'opened' : [ws.status, ws.body.code], [403, 'GW_ERR_HOST_NOT_ALLOWED'])

    // Malformed Host values that a URL parser would read as 127.0.0.1 are refused too.
    for (const host of ['evil.example@127.0.0.1', '127.0.0.1/evil', 'evil.example.', 'xlocalhost']) {
      assert.equal((await get(server, '/api/processes', { host })).status, 403, host)
    }

    const allowed = ['127.0.0.1', `127.0.0.1:${port(server)}`, `localhost:${port(server)}`, `[::1]:${port(server)}`, 'LOCALHOST.',
      'app.localhost', 'gilwatch.internal:80', 'example.com', 'a.b.example.com', '10.1.2.3:9477']
    for (const host of allowed) {
      const answer = await get(server, '/api/processes', { host })
      assert.equal(answer.status, 200, host)
      assert.deepEqual(JSON.parse(answer.body).processes, [], host)
    }
    assert.equal((await get(server, '/metrics', { host: 'gilwatch.internal' })).status, 200)
    const page = await get(server, '/', { host: 'localhost' })
    assert.equal(page.status, 200)
    assert.match(page.headers['content-type']!, /^text\/html/)
    const ws2 = await connect(server, { host: `localhost:${port(server)}` })
    assert.equal(ws2.open && ws2.first.type, 'processes')
  } finally {
    await server.close()
  }
})

test('a WebSocket from a page of another origin is refused before the handshake; this server\'s own page and non-browsers pass', async () => {
  const server = await startTestServer()
  try {
    const own = `http://127.0.0.1:${port(server)}`
    for (const origin of ['http://evil.example', `http://evil.example:${port(server)}`, 'http://127.0.0.1:1',
      `http://localhost:${port(server)}`, 'null', `ftp://127.0.0.1:${port(server)}`]) {
      const ws = await connect(server, { origin })
      assert.ok(!ws.open, `${origin} must be refused`)
      assert.equal(ws.status, 403, origin)
      assert.equal(ws.body.code, 'GW_ERR_ORIGIN_NOT_ALLOWED', origin)
      assert.match(ws.body.error, /Open the dashboard from this server$/)
    }
    const fromOwnPage = await connect(server, { origin: own })
    assert.deepEqual(fromOwnPage.open && fromOwnPage.first, { type: 'processes', processes: [], services: [] })
    const noBrowser = await connect(server)
    assert.equal(noBrowser.open && noBrowser.first.type, 'processes')
    // The Origin check is for WebSockets: plain requests from other origins cannot read the
    // answers anyway (no CORS headers), so they are not refused for their Origin.
    assert.equal((await get(server, '/api/processes', { origin: 'http://evil.example' })).status, 200)
    assert.equal((await get(server, '/api/processes', { origin: 'http://evil.example' })).headers['access-control-allow-origin'], undefined)
  } finally {
    await server.close()
  }
})

test('with a token: 401 without it or with a wrong one, 200 with it; /healthz stays open', async () => {
  const server = await startTestServer({ authToken: TOKEN })
  try {
    for (const pathname of ['/api/processes', '/metrics', '/', '/index.html', '/app.js', '/api/processes/0123456789abcdef/ranges']) {
      const none = await get(server, pathname)
      assert.equal(none.status, 401, pathname)
      assert.equal(none.headers['www-authenticate'], 'Bearer realm="gilwatch"')
      assert.equal(JSON.parse(none.body).code, 'GW_ERR_UNAUTHORIZED')
      assert.match(JSON.parse(none.body).error, /Authorization: Bearer TOKEN.*\/\?token=TOKEN/)
      for (const wrong of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, `Basic ${TOKEN}`, TOKEN]) {
        const answer = await get(server, pathname, { authorization: wrong })
        assert.equal(answer.status, 401, `${pathname} with ${wrong}`)
      }
      assert.match(JSON.parse((await get(server, pathname, { authorization: 'Bearer wrong-token-0000000' })).body).error, /does not match/)
    }
    const api = await get(server, '/api/processes', { authorization: `Bearer ${TOKEN}` })
    assert.equal(api.status, 200)
    assert.deepEqual(JSON.parse(api.body).processes, [])
    const metrics = await get(server, '/metrics', { authorization: `bearer ${TOKEN}` })
    assert.equal(metrics.status, 200)
    assert.match(metrics.body, /^# HELP /m)
    const health = await get(server, '/healthz')
    assert.deepEqual([health.status, JSON.parse(health.body)], [200, { ok: true }])
    // The token stands in for the Host check (Prometheus scrapes hosts by name); without it the
    // name is refused as before.
    assert.equal((await get(server, '/metrics', { host: 'app-host-1:9477', authorization: `Bearer ${TOKEN}` })).status, 200)
    assert.equal((await get(server, '/metrics', { host: 'app-host-1:9477' })).status, 403)
    // fetch, as a script would use it
    const fetched = await fetch(`${server.httpUrl}/api/processes`, { headers: { authorization: `Bearer ${TOKEN}` } })
    assert.equal(fetched.status, 200)
  } finally {
    await server.close()
  }
})

test('with a token: the dashboard takes ?token= once and sets an HttpOnly SameSite=Strict cookie that serves the page, its files and /ws', async () => {
  const server = await startTestServer({ authToken: TOKEN })
  try {
    assert.equal((await get(server, '/?pid=7&token=not-the-token-000')).status, 401)
    assert.equal((await get(server, `/api/processes?token=${TOKEN}`)).status, 401, '?token= is for the dashboard page only')

    const entry = await get(server, `/?pid=7&token=${TOKEN}`)
    assert.equal(entry.status, 200)
    const cookieName = `gilwatch_token_${port(server)}`
    assert.deepEqual(entry.headers['set-cookie'], [`${cookieName}=${TOKEN}; Path=/; HttpOnly; SameSite=Strict`])
    assert.equal(entry.headers.refresh, '0; url=/?pid=7', 'the page reloads without the token in its address')
    assert.equal(entry.headers['referrer-policy'], 'no-referrer')
    assert.equal(entry.headers['cache-control'], 'no-store')
    assert.ok(!entry.body.includes(TOKEN), 'the token is not in the page')

    const cookie = `other=1; ${cookieName}=${TOKEN}`
    const page = await get(server, '/?pid=7', { cookie })
    assert.equal(page.status, 200)
    assert.match(page.body, /<html/i)
    assert.equal((await get(server, '/app.js', { cookie })).status, 200)
    assert.equal((await get(server, '/api/processes', { cookie })).status, 200)
    assert.equal((await get(server, '/', { cookie: `${cookieName}=${TOKEN}0` })).status, 401)
    assert.equal((await get(server, '/', { cookie: `gilwatch_token_1=${TOKEN}` })).status, 401, 'another server\'s cookie')

    const own = `http://127.0.0.1:${port(server)}`
    const viaCookie = await connect(server, { cookie, origin: own })
    assert.equal(viaCookie.open && viaCookie.first.type, 'processes')
    const viaHeader = await connect(server, { authorization: `Bearer ${TOKEN}` })
    assert.equal(viaHeader.open && viaHeader.first.type, 'processes')
    const without = await connect(server, { origin: own })
    assert.deepEqual(without.open ? 'opened' : [without.status, without.body.code], [401, 'GW_ERR_UNAUTHORIZED'])
    const wrong = await connect(server, { cookie: `${cookieName}=x${TOKEN}`, origin: own })
    assert.deepEqual(wrong.open ? 'opened' : wrong.status, 401)
    // A page of another origin on the same site would get the cookie sent along: its Origin
    // still refuses it.
    const sameSite = await connect(server, { cookie, origin: `http://127.0.0.1:${Number(port(server)) + 1}` })
    assert.deepEqual(sameSite.open ? 'opened' : [sameSite.status, sameSite.body.code], [403, 'GW_ERR_ORIGIN_NOT_ALLOWED'])
  } finally {
    await server.close()
  }
})

test('HTTP beyond loopback without a token is refused at startup; the token file must be private', async () => {
  await assert.rejects(startServer({ socket: null, http: { host: '0.0.0.0', port: 0 } }), (error: GilwatchError) => {
    assert.equal(error.code, 'GW_ERR_UNAUTHENTICATED_NETWORK_HTTP')
    assert.match(error.message, /--http 0\.0\.0\.0 .*give --auth-token-file FILE .*or --insecure-no-auth/)
    return true
  })
  for (const host of ['127.0.0.1', '127.8.9.1', 'localhost', '::1', '::ffff:127.0.0.1']) {
    assert.doesNotThrow(() => checkHttpExposure(host, {}), host)
  }
  for (const host of ['0.0.0.0', '::', '192.168.1.5', 'myhost']) {
    assert.throws(() => checkHttpExposure(host, {}), { code: 'GW_ERR_UNAUTHENTICATED_NETWORK_HTTP' }, host)
    assert.doesNotThrow(() => checkHttpExposure(host, { insecureNoAuth: true }), host)
    assert.doesNotThrow(() => checkHttpExposure(host, { token: TOKEN }), host)
  }
  // With a token it starts, and still wants the token.
  const server = await startServer({ socket: null, http: { host: '0.0.0.0', port: 0 }, authToken: TOKEN })
  try {
    const url = server.httpUrl!.replace('0.0.0.0', '127.0.0.1')
    assert.equal((await fetch(`${url}/api/processes`)).status, 401)
    assert.equal((await fetch(`${url}/api/processes`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200)
  } finally {
    await server.close()
  }

  const dir = tempDir()
  const tokenFile = path.join(dir, 'token')
  fs.writeFileSync(tokenFile, `  ${TOKEN}\n`, { mode: 0o644 })
  fs.chmodSync(tokenFile, 0o644)
  assert.throws(() => readTokenFile(tokenFile), (error: GilwatchError) => {
    assert.equal(error.code, 'GW_ERR_UNSAFE_TOKEN_FILE')
    assert.equal(error.message, `--auth-token-file ${tokenFile} is open to other users (mode 0644): run \`chmod 600 ${tokenFile}\``)
    return true
  })
  fs.chmodSync(tokenFile, 0o600)
  assert.equal(readTokenFile(tokenFile), TOKEN, 'trimmed')
  fs.writeFileSync(tokenFile, 'short\n')
  assert.throws(() => readTokenFile(tokenFile), { code: 'GW_ERR_BAD_TOKEN_FILE' })
  assert.throws(() => readTokenFile(path.join(dir, 'missing')), { code: 'GW_ERR_BAD_TOKEN_FILE' })
})

test('gilwatch serve: the new flags are checked before anything listens', () => {
  const dir = tempDir()
  const tokenFile = path.join(dir, 'token')
  fs.writeFileSync(tokenFile, TOKEN, { mode: 0o640 })
  fs.chmodSync(tokenFile, 0o640)
  const cli = (...args: string[]) => {
    const result = spawnSync(process.execPath, [gilwatch, 'serve', '--no-socket', ...args], { encoding: 'utf8', timeout: 20_000 })
    return { code: result.status, stderr: result.stderr.trim() }
  }
  const cases: Array<[string[], RegExp]> = [
    [['--http', '0.0.0.0:0'], /^gilwatch: --http 0\.0\.0\.0 serves .* with no authentication: give --auth-token-file FILE/],
    [['--http', '127.0.0.1:0', '--auth-token-file', tokenFile], new RegExp(`^gilwatch: --auth-token-file ${tokenFile} is open to other users \\(mode 0640\\): run \`chmod 600 ${tokenFile}\`$`)],
    [['--argv', 'some'], /^gilwatch: --argv=some: give full, program or none/],
    [['--allowed-hosts', 'evil.example:80'], /^gilwatch: --allowed-hosts: "evil\.example:80" is not a host name \(names only, without a port/],
    [['--auth-token-file', tokenFile, '--insecure-no-auth'], /contradict each other/]
  ]
  for (const [args, message] of cases) {
    const result = cli(...args)
    assert.equal(result.code, 2, args.join(' '))
    assert.match(result.stderr, message, args.join(' '))
    assert.equal(result.stderr.split('\n').length, 1, 'one line, no stack trace')
  }
  const help = spawnSync(process.execPath, [gilwatch, 'serve', '--help'], { encoding: 'utf8' }).stdout
  for (const flag of ['--argv MODE', '--allowed-hosts A,B', '--auth-token-file F', '--insecure-no-auth']) assert.ok(help.includes(flag), flag)
})

test('redactArgv: program keeps the executable and the script or module, never arguments', () => {
  const secret = '--api-key=s3cret'
  const table: Array<[string[], string[]]> = [
    [['/usr/bin/python3', '/srv/app.py', secret], ['python3', '/srv/app.py']],
    [['python3.12', '-u', '-X', 'dev', '-W', 'ignore', 'app.py', secret], ['python3.12', 'app.py']],
    [['python3', '-Wignore', '-Xfrozen_modules=off', 'app.py', secret], ['python3', 'app.py']],
    [['python3', '-uBm', 'http.server', '8000'], ['python3', '-m', 'http.server']],
    [['python3', '-mpytest', '-k', secret], ['python3', '-m', 'pytest']],
    [['python3', '-c', `import os; os.environ["KEY"]="${secret}"`], ['python3', '-c']],
    [['python3', '-uc', 'print(1)'], ['python3', '-c']],
    [['python3', '--check-hash-based-pycs', 'always', 'app.py', secret], ['python3', 'app.py']],
    [['python3', '--', '-weird.py', secret], ['python3', '-weird.py']],
    [['python3', '-', secret], ['python3', '-']],
    [['python3'], ['python3']],
    [['/opt/venv/bin/gunicorn', 'app:app', '--bind', '0.0.0.0', secret], ['gunicorn']],
    [['python3 /srv/app.py --api-key=s3cret'], ['python3']], // setproctitle-style single string
    [[], []]
  ]
  for (const [argv, program] of table) {
    assert.deepEqual(redactArgv(argv, 'program'), program, argv.join(' '))
    assert.deepEqual(redactArgv(argv, 'full'), argv)
    assert.deepEqual(redactArgv(argv, 'none'), [])
  }
})

async function helloFrom (server: TestServer, argv: string[], pid: number): Promise<net.Socket> {
  const socket = net.connect(server.socket)
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  socket.write(encodeHello({
    pid,
    ppid: 1,
    instance: BigInt(pid) << 8n,
    monotonicNs: 1_000_000_000n,
    realtimeNs: BigInt(Date.now()) * 1_000_000n,
    service: 'billing',
    executable: '/usr/bin/python3.11',
    argv
  }))
  return socket
}

test('--argv decides how much of a command line the API, /ws, /metrics and summaries show', async () => {
  const argv = ['/usr/bin/python3', '-X', 'importtime', '/srv/billing/app.py', '--api-key=s3cret', '--db=postgres://u:pw@db/x']
  const expected: Record<ArgvMode | 'default', string[]> = {
    default: ['python3', '/srv/billing/app.py'],
    program: ['python3', '/srv/billing/app.py'],
    full: argv,
    none: []
  }
  for (const [mode, shown] of Object.entries(expected)) {
    const server = await startTestServer(mode === 'default' ? {} : { argvMode: mode as ArgvMode })
    const pid = 40_000 + Object.keys(expected).indexOf(mode)
    const socket = await helloFrom(server, argv, pid)
    try {
      const parsed = await waitFor('the process in /api/processes', async () => {
        const { processes } = JSON.parse((await get(server, '/api/processes')).body) as { processes: ProcessSnapshot[] }
        return processes.find((p) => p.pid === pid)
      })
      assert.deepEqual(parsed.argv, shown, mode)
      assert.equal(parsed.executable, '/usr/bin/python3.11', 'the interpreter path is not an argument')
      const api = (await get(server, '/api/processes')).body
      const ws = await connect(server)
      assert.ok(ws.open)
      const listed = (ws.first.processes as ProcessListEntry[]).find((p) => p.pid === pid)!
      assert.deepEqual(listed.argv, shown, `/ws ${mode}`)
      const summary = server.store.summary(parsed.instance)!
      assert.deepEqual(summary.argv, shown, `summary ${mode}`)
      const metrics = (await get(server, '/metrics')).body
      assert.ok(!metrics.includes('s3cret') && !metrics.includes('/srv/billing'), 'no command line in /metrics labels')
      if (mode === 'full') {
        assert.ok(api.includes('s3cret'))
      } else {
        for (const leaked of ['s3cret', 'pw@db', 'importtime']) {
          assert.ok(!api.includes(leaked), `${mode}: /api/processes shows ${leaked}`)
          assert.ok(!JSON.stringify(ws.first).includes(leaked), `${mode}: /ws shows ${leaked}`)
          assert.ok(!JSON.stringify(summary).includes(leaked), `${mode}: the summary shows ${leaked}`)
        }
      }
    } finally {
      socket.destroy()
      await server.close()
    }
  }
})

test('a real Prometheus scrapes a token-protected server with authorization.credentials_file, and not without', async () => {
  const server = await startTestServer({ authToken: TOKEN })
  const tokenFile = path.join(server.dir, 'gilwatch.token')
  fs.writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 })
  const target = new URL(server.httpUrl!).host
  // The scrape config docs/deploy.md shows, and the same target without it.
  const prometheus = await startPrometheus(server.dir, [
    'global:',
    '  scrape_interval: 1s',
    'scrape_configs:',
    '  - job_name: gilwatch',
    '    authorization:',
    `      credentials_file: ${tokenFile}`,
    '    static_configs:',
    `      - targets: ['${target}']`,
    '  - job_name: no-token',
    '    static_configs:',
    `      - targets: ['${target}']`
  ]).catch(async (error) => { await server.close(); throw error })
  try {
    const up = async (job: string) => (await prometheus.query(`up{job="${job}"}`))[0]?.value?.[1]
    await waitFor('both scrapes', async () => (await up('gilwatch')) !== undefined && (await up('no-token')) !== undefined, 30_000)
    assert.equal(await up('gilwatch'), '1')
    assert.equal(await up('no-token'), '0')
    const targets = await (await fetch(`${prometheus.url}/api/v1/targets`)).json() as any
    const refused = targets.data.activeTargets.find((t: any) => t.labels.job === 'no-token')
    assert.match(refused.lastError, /401/)
  } finally {
    await prometheus.stop()
    await server.close()
  }
})

const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium'

test('in a real browser: a rebound name is refused, ?token= logs the dashboard in, a page of another origin cannot open /ws',
  async () => {
    assert.ok(fs.existsSync(chromiumPath), `no Chromium at ${chromiumPath}: npm test's pretest installs it as root`)
    const server = await startTestServer({ authToken: TOKEN })
    // Another local web server, like `python -m http.server` showing a downloaded page.
    const other = http.createServer((_request, response) => response.end('<!doctype html><title>other</title>'))
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve))
    const otherUrl = `http://127.0.0.1:${(other.address() as net.AddressInfo).port}`
    // DNS rebinding without DNS: the browser resolves evil.example to 127.0.0.1.
    const browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--host-resolver-rules=MAP evil.example 127.0.0.1']
    })
    try {
      const page = await browser.newPage()
      const rebound = await page.goto(`http://evil.example:${port(server)}/api/processes`)
      assert.equal(rebound!.status(), 403)
      assert.equal(JSON.parse(await rebound!.text()).code, 'GW_ERR_HOST_NOT_ALLOWED')

      const refused = await page.goto(`${server.httpUrl}/?pid=7`)
      assert.equal(refused!.status(), 401)
      await page.goto(`${server.httpUrl}/?pid=7&token=${TOKEN}`)
      await page.waitForURL(`${server.httpUrl}/?pid=7`, { timeout: 10_000 })
      assert.equal(await page.evaluate(() => document.cookie), '', 'HttpOnly: scripts cannot read the token')
      assert.equal(await page.evaluate(async () => (await fetch('/api/processes')).status), 200)
      const fromDashboard = await page.evaluate(() => new Promise<string>((resolve) => {
        const socket = new window.WebSocket(`ws://${location.host}/ws`)
        socket.onmessage = (event) => { socket.close(); resolve(JSON.parse(event.data).type) }
        socket.onerror = () => resolve('error')
      }))
      assert.equal(fromDashboard, 'processes')

      // A server without a token: only the Origin check stands between the other page and
      // /ws, and the same socket opens from the server's own page.
      const open = await startTestServer()
      try {
        const openSocket = (target: string) => page.evaluate((url) => new Promise<string>((resolve) => {
          const socket = new window.WebSocket(url)
          socket.onmessage = (event) => { socket.close(); resolve(JSON.parse(event.data).type) }
          socket.onclose = (event) => resolve(`closed ${event.code}`)
        }), target)
        const target = `${open.httpUrl!.replace('http', 'ws')}/ws`
        await page.goto(otherUrl)
        assert.equal(await openSocket(target), 'closed 1006', 'the handshake fails')
        await page.goto(`${open.httpUrl}/`)
        assert.equal(await openSocket(target), 'processes')
      } finally {
        await open.close()
      }
    } finally {
      await browser.close()
      other.close()
      await server.close()
    }
  })

test('the web side\'s limits: docs/security.md lists each default, /metrics each kind', async () => {
  const docs = fs.readFileSync(path.join(repoRoot, 'docs', 'security.md'), 'utf8')
  assert.deepEqual(documentedLimits(docs, 'The web side\'s limits'), { ...defaultWebLimits })
  const server = await startTestServer()
  try {
    const text = await (await fetch(`${server.httpUrl}/metrics`)).text()
    for (const kind of webLimitKinds) assert.match(text, new RegExp(`^gilwatch_limit_overflows_total\\{limit="${kind}"\\} 0$`, 'm'), kind)
    assert.match(text, /^gilwatch_http_connections 1$/m)
    assert.match(text, /^gilwatch_dashboard_clients 0$/m)
  } finally {
    await server.close()
  }
})
