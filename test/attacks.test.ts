// The attacks of the hostile-client review (docs/security.md), each against `gilwatch serve`
// in its own process over real sockets: a crash shows as the server dying, and its memory
// and descriptors are read from /proc. Each logs the server's RSS and /metrics latency
// before and after (timings are reported, never asserted), and where an honest program runs
// alongside, each of its threads must be counted exactly.
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import path from 'node:path'
import { after, before, test } from 'node:test'
import WebSocket from 'ws'
import {
  RecordKind, encodeAuth, encodeFrame, encodeGilTotals, encodeHello, encodeRecords, encodeStatus, encodeThread, MAX_FRAME_BODY,
  type WireRecord
} from '../server/protocol'
import type { ProcessSnapshot } from '../server/shared/views'
import { defaultWebLimits } from '../server/web-limits'
import { buildFixture, countedStorm, gilStrings, monitoredEnv, parseExposition, run, startServeProcess, tempDir, waitFor, type ServeProcess } from './helpers'

const TOKEN = 'attacks-ingest-token-0123456789abcdef'
const SLACK = 200 // holds a storm thread makes besides its reads (start, barrier, exit)
let server: ServeProcess
let tokenDir: string

before(async () => {
  tokenDir = tempDir()
  fs.writeFileSync(path.join(tokenDir, 'token'), TOKEN, { mode: 0o600 })
  server = await startServeProcess(['--tcp', '127.0.0.1:0', '--ingest-token-file', path.join(tokenDir, 'token')])
})
after(async () => {
  await server.stop()
  fs.rmSync(tokenDir, { recursive: true, force: true })
})

async function metricsMs (): Promise<number> {
  const started = performance.now()
  const response = await fetch(`${server.url}/metrics`)
  await response.text()
  return performance.now() - started
}

// Logs the server's RSS and /metrics latency around `attack` (reported, not asserted).
async function measured<T> (what: string, attack: () => Promise<T>): Promise<{ result: T, rssBefore: number, rssAfter: number }> {
  const rssBefore = server.rssMb()
  const msBefore = await metricsMs()
  const result = await attack()
  assert.ok(server.alive(), `${what}: the server is still running\n${server.log()}`)
  const rssAfter = server.rssMb()
  console.log(`# ${what}: server RSS ${rssBefore.toFixed(0)} -> ${rssAfter.toFixed(0)} MB, /metrics ${msBefore.toFixed(1)} -> ${(await metricsMs()).toFixed(1)} ms`)
  return { result, rssBefore, rssAfter }
}

function assertExact (storm: Array<{ name: string, reads: number, counted: number }>, what: string): void {
  assert.equal(storm.length, 4, what)
  for (const t of storm) assert.ok(t.counted >= t.reads && t.counted <= t.reads + SLACK, `${what}: ${t.name} made ${t.reads} reads, /metrics counts ${t.counted}`)
}

const samples = async (name: string, labels: Record<string, string> = {}) =>
  parseExposition(await (await fetch(`${server.url}/metrics`)).text())
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
const metric = async (name: string, labels: Record<string, string> = {}) => (await samples(name, labels)).reduce((n, s) => n + s.value, 0)

const wsUrl = () => `${server.url.replace('http', 'ws')}/ws`

// Opens a dashboard socket and resolves once the server's first message arrived.
function dashboard (): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(wsUrl())
    socket.once('message', () => resolve(socket))
    socket.once('error', reject)
  })
}

test('malformed WebSocket messages each close their own client (1008); the server goes on', async () => {
  const malformed = [
    'null', '42', '"subscribe"', '[]', 'not json', '{}', '{"type":"unsubscribe"}',
    '{"type":"subscribe","live":false,"startNs":1}',
    '{"type":"subscribe","live":false,"startNs":1,"endNs":null}',
    '{"type":"subscribe","live":false,"startNs":1,"endNs":"2"}',
    '{"type":"subscribe","live":false,"startNs":1,"endNs":[2]}',
    '{"type":"subscribe","live":false,"startNs":5,"endNs":1}',
    '{"type":"subscribe","widthPx":1e999}',
    '{"type":"subscribe","instance":{"toString":1}}'
  ]
  await measured('14 malformed dashboard messages', async () => {
    for (const text of malformed) {
      const socket = await dashboard()
      const code = await new Promise<number>((resolve) => { socket.once('close', resolve); socket.send(text) })
      assert.equal(code, 1008, text)
    }
  })
  assert.equal(await metric('gilwatch_client_errors_total', { surface: 'websocket', reason: 'invalid_message' }), malformed.length)
  assert.equal(await metric('gilwatch_client_errors_total', { reason: 'handler_error' }), 0)
  assert.match(server.log(), /websocket client: invalid_message: uid \d+: \(the message\) must be object/)
})

test('a subscribe storm is coalesced and bounded: the honest program stays exact, a flooding client is cut off', async () => {
  const { result } = await measured('subscribe storm, 64 clients at the message rate for the honest program\'s run', async () => {
    const clients = await Promise.all(Array.from({ length: defaultWebLimits.wsClientsPerPeer }, () => dashboard()))
    let received = 0
    for (const c of clients) c.on('message', (d: Buffer) => { received += d.length })
    const widest = JSON.stringify({ type: 'subscribe', windowMs: 30_000, widthPx: 8000 })
    const storm = setInterval(() => { for (const c of clients) c.send(widest) }, 1000 / defaultWebLimits.wsMessagesPerSecond + 5)
    const latencies: number[] = []
    const failures: string[] = []
    const probe = setInterval(() => {
      metricsMs().then((ms) => latencies.push(ms), (error) => { latencies.push(Infinity); failures.push(String(error.cause ?? error)) })
    }, 250)
    try {
      // One client more than the per-peer limit is refused before the handshake.
      const refused = await new Promise<number>((resolve) => {
        const extra = new WebSocket(wsUrl())
        extra.once('unexpected-response', (_request, response) => resolve(response.statusCode!))
        extra.once('open', () => resolve(101))
        extra.on('error', () => {})
      })
      assert.equal(refused, 503)
      // The storm lasts at least 3 s, whatever the honest program's speed.
      const [honest] = await Promise.all([countedStorm(server, 4, 50_000), new Promise((resolve) => setTimeout(resolve, 3000))])
      assert.ok(clients.every((c) => c.readyState === WebSocket.OPEN), 'clients within the message rate stay connected')
      return { honest, latencies, received, failures }
    } finally {
      clearInterval(storm)
      clearInterval(probe)
      for (const c of clients) c.terminate()
    }
  })
  assertExact(result.honest, 'honest storm during the subscribe storm')
  assert.ok(result.latencies.length > 0 && result.latencies.every(Number.isFinite), `/metrics answered throughout: ${result.failures.join('; ')}`)
  console.log(`# subscribe storm: /metrics ${Math.max(...result.latencies).toFixed(0)} ms at worst over ${result.latencies.length} scrapes; ${(result.received / 1024).toFixed(0)} KiB sent to the clients`)

  // One client sending as fast as it can is closed once past the rate.
  const flooder = await dashboard()
  const code = await new Promise<number>((resolve) => {
    flooder.once('close', resolve)
    for (let i = 0; i < 10 * defaultWebLimits.wsMessagesPerSecond; i++) flooder.send(JSON.stringify({ type: 'subscribe' }))
  })
  assert.equal(code, 1008)
  assert.ok(await metric('gilwatch_limit_overflows_total', { limit: 'ws_message_rate' }) >= 1)
})

test('20 000 connection attempts by another user that never send a byte do not starve /metrics, /healthz or ingest', async () => {
  const url = new URL(server.url)
  const { result } = await measured('20 000 silent HTTP connection attempts', async () => {
    // The flood runs as nobody, 400 connections open at once (within the listen backlog: beyond
    // it the kernel drops handshakes, which then hang until a timeout instead of testing the
    // server), until 20 000 were tried. A connection the server never closes is given up after 20 s.
    const flooder = spawn('runuser', ['-u', 'nobody', '--', process.execPath, '-e', `
      const net = require('net'); let attempts = 0, open = 0
      const next = () => { while (open < 400 && attempts < 20000) { attempts++; open++
        const s = net.connect(${url.port}, '127.0.0.1'); s.on('error', () => {}); s.resume(); s.setTimeout(20000, () => s.destroy())
        s.once('close', () => { open--; if (attempts < 20000) setImmediate(next); else if (!open) console.log(attempts) }) } }
      next()`], { stdio: ['ignore', 'pipe', 'pipe'], cwd: '/' })
    let attempts = ''
    flooder.stdout!.on('data', (d) => { attempts += d })
    const done = new Promise((resolve) => flooder.once('exit', resolve))
    const fdsSeen: number[] = []
    const answers: number[] = []
    const probe = setInterval(() => {
      fdsSeen.push(server.fds())
      fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(5000) }).then((r) => answers.push(r.status), () => answers.push(0))
    }, 200)
    const honest = await countedStorm(server, 4, 20_000)
    await done
    clearInterval(probe)
    return { honest, answers, fdsSeen, attempts: Number(attempts.trim()) }
  })
  assert.equal(result.attempts, 20_000)
  assertExact(result.honest, 'honest storm during the connection flood')
  assert.ok(result.answers.length > 0 && result.answers.every((s) => s === 200), `/healthz answered: ${result.answers.join(',')}`)
  const limit = defaultWebLimits.httpConnectionsPerPeer + 100 // one peer's connections, ingest sockets and the server's own files
  assert.ok(Math.max(...result.fdsSeen) < limit, `server descriptors at most ${Math.max(...result.fdsSeen)}`)
  assert.ok(await metric('gilwatch_limit_overflows_total', { limit: 'http_connections_per_peer' }) > 0)
  console.log(`# connection flood: server descriptors at most ${Math.max(...result.fdsSeen)}; /healthz answered ${result.answers.length} times`)

  // The same user's flood cannot lock out a new connection of its own either: the oldest idle one makes room.
  const sockets = Array.from({ length: defaultWebLimits.httpConnectionsPerPeer + 50 }, () => net.connect(Number(url.port), url.hostname).on('error', () => {}).resume())
  try {
    await new Promise((resolve) => setTimeout(resolve, 300))
    const status = await new Promise<number>((resolve, reject) => {
      http.get({ host: url.hostname, port: url.port, path: '/healthz', agent: false }, (response) => { response.resume(); resolve(response.statusCode!) })
        .on('error', reject)
    })
    assert.equal(status, 200, 'a new connection of the flooding user is served')
  } finally {
    for (const s of sockets) s.destroy()
  }
})

test('another local user cannot continue a process it did not start, with or without the ingest token', async () => {
  const nobody = spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' })
  assert.equal(nobody.status, 0, 'the user nobody exists')
  const fixture = buildFixture('gil_fixture.c')
  const dir = tempDir()
  const running = run(fixture, ['--truth', path.join(dir, 'truth'), '--threads', '2', '--duration-ms', '4000'], monitoredEnv(server.socket))
  try {
    const victim = await waitFor('the honest process', async () => {
      const list = (await (await fetch(`${server.url}/api/processes`)).json() as { processes: ProcessSnapshot[] }).processes
      return list.find((p) => p.pid === running.child.pid && p.state === 'connected')
    })
    const port = Number(server.tcp!.split(':').pop())
    const takeover = (token: string | null) => Buffer.concat([
      ...(token ? [encodeAuth(token)] : []),
      encodeHello({ pid: 31337, ppid: 1, instance: BigInt(`0x${victim.instance}`), monotonicNs: 1n, realtimeNs: 1n, service: 'HIJACKED', executable: '/evil', argv: ['evil'] }),
      encodeThread(1, 31337, 'renamed'),
      encodeStatus(2n)
    ])
    // The attacker runs as nobody, with the frames handed over ready-made (it cannot read the
    // repository); it reports whether the server closed its connection.
    const attack = (frames: Buffer) => spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, '-e', `
      const s = require('net').connect(${port}, '127.0.0.1', () => s.write(Buffer.from(process.argv[1], 'hex')))
      s.on('close', () => { console.log('closed'); process.exit(0) }); s.on('error', () => {})
      s.resume(); setTimeout(() => { console.log('open'); process.exit(0) }, 2000)`, frames.toString('hex')], { encoding: 'utf8', cwd: '/' })
    const withoutToken = attack(takeover(null))
    assert.equal(withoutToken.stdout.trim(), 'closed', withoutToken.stderr)
    // Even holding the ingest token (a local service that reports over TCP), nobody is not root.
    const withToken = attack(takeover(TOKEN))
    assert.equal(withToken.stdout.trim(), 'closed', withToken.stderr)
    await waitFor('the refusal in the log', () => /foreign_instance: process instance [0-9a-f]{16} was started by uid 0, not by this connection's uid \d+/.test(server.log()))
    assert.match(server.log(), /bad_token/)
    const after = (await (await fetch(`${server.url}/api/processes/${victim.instance}`)).json() as { process: ProcessSnapshot }).process
    assert.equal(after.service, victim.service)
    assert.equal(after.pid, victim.pid)
    assert.ok(!after.threads.some((t) => t.name === 'renamed'))
    assert.ok((await samples('python_gil_hold_seconds_total', { pid: String(victim.pid), service: victim.service })).length > 0, 'the victim keeps its series')
    assert.equal((await samples('python_gil_hold_seconds_total', { pid: '31337' })).length, 0, 'no series under the attacker\'s pid')
  } finally {
    await running
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

const hello = (pid: number, service = `fake${pid}`) => encodeHello({ pid, ppid: 1, instance: BigInt(pid) * 7919n + 1n, monotonicNs: 1n, realtimeNs: 1n, service, executable: '/x', argv: ['x'] })
const connectUnix = () => new Promise<net.Socket>((resolve, reject) => {
  const socket = net.connect(server.socket, () => resolve(socket))
  socket.once('error', reject)
})
// Resolves once the data is taken, or the server closed the connection.
const drain = (socket: net.Socket, data: Buffer) => new Promise<void>((resolve) => {
  if (socket.destroyed || socket.write(data)) return resolve()
  const done = () => {
    socket.off('drain', done)
    socket.off('close', done)
    resolve()
  }
  socket.on('drain', done)
  socket.on('close', done)
})

test('memory: waits streamed without STATUS and frames held open do not grow the server without bound', async () => {
  const { rssBefore, rssAfter } = await measured('400 MiB of "Waiting for GIL" ranges without STATUS', async () => {
    const socket = await connectUnix()
    await drain(socket, Buffer.concat([hello(50_001), gilStrings(), encodeThread(1, 1, 'waiter')]))
    const perFrame = 20_000
    const sent = { bytes: 0, start: 1_000_000n }
    while (sent.bytes < 400 * 2 ** 20) {
      const records: WireRecord[] = []
      for (let i = 0; i < perFrame; i++, sent.start += 1000n) records.push({ kind: RecordKind.RANGE, domain: 1, message: 3, startNs: sent.start, endNs: sent.start + 500n })
      const frame = encodeRecords(1, records)
      sent.bytes += frame.length
      await drain(socket, frame)
    }
    socket.end()
    await new Promise((resolve) => socket.once('close', resolve))
  })
  assert.ok(rssAfter - rssBefore < 64, `RSS grew ${(rssAfter - rssBefore).toFixed(0)} MB`)

  const { rssBefore: before2, rssAfter: after2 } = await measured('689 connections each holding a 1 MiB frame minus one byte', async () => {
    const sockets: net.Socket[] = []
    let closedByServer = 0
    for (let i = 0; i < 689; i++) {
      const socket = await connectUnix()
      socket.on('close', () => { closedByServer++ })
      socket.on('error', () => {})
      sockets.push(socket)
      const header = Buffer.alloc(8)
      header.writeUInt32LE(MAX_FRAME_BODY, 0)
      header.writeUInt16LE(4, 4)
      await drain(socket, Buffer.concat([hello(60_000 + i), header, Buffer.alloc(MAX_FRAME_BODY - 1)]))
    }
    await waitFor('the oldest partial frames to be cut', () => closedByServer >= 689 - 64)
    for (const s of sockets) s.destroy()
  })
  assert.ok(after2 - before2 < 150, `RSS grew ${(after2 - before2).toFixed(0)} MB while partial frames were held`)
  assert.ok(await metric('gilwatch_limit_overflows_total', { limit: 'buffered_bytes' }) >= 689 - 64)

  // One byte a second cannot keep a frame open past frameTimeoutMs.
  const slow = await connectUnix()
  let cut = false
  slow.on('close', () => { cut = true })
  slow.on('error', () => {})
  slow.resume()
  const header = Buffer.alloc(8)
  header.writeUInt32LE(64, 0)
  header.writeUInt16LE(4, 4)
  slow.write(Buffer.concat([hello(70_000), header]))
  const drip = setInterval(() => { if (!cut) slow.write(Buffer.alloc(1)) }, 1000)
  await waitFor('the slow frame to time out', () => cut, 20_000).finally(() => clearInterval(drip))
  assert.ok(await metric('gilwatch_limit_overflows_total', { limit: 'frame_timeout' }) >= 1)
})

test('fairness: a process already reported stays in /metrics when 1 024 tiny fake processes arrive', async () => {
  // Each process states its threads' GIL totals (GIL_TOTALS), as the injection does.
  const threads = (n: number) => Array.from({ length: n }, (_, t) => [encodeThread(t + 1, t + 1, `t${t}`),
    encodeGilTotals(t + 1, [{ interp: 0n, holds: 1n, holdNs: 1000n, holdBuckets: [0n, 1n] }])]).flat()
  const honest = await connectUnix()
  await drain(honest, Buffer.concat([hello(4242, 'honest'), gilStrings(), ...threads(3), encodeStatus(3000n)]))
  const heartbeat = setInterval(() => honest.write(encodeStatus(3000n)), 1000)
  const fakes: net.Socket[] = []
  try {
    await waitFor('the honest process in /metrics', async () => await metric('python_gil_acquisitions_total', { service: 'honest' }) === 3)
    await measured('1 024 tiny fake processes', async () => {
      for (let i = 0; i < 1024; i++) {
        const socket = await connectUnix()
        socket.on('error', () => {})
        fakes.push(socket)
        await drain(socket, Buffer.concat([hello(80_000 + i), gilStrings(), ...threads(12), encodeStatus(3000n)]))
      }
    })
    assert.ok(await metric('gilwatch_metrics_processes_dropped') > 0, 'the fakes overflowed the series budget')
    assert.equal(await metric('python_gil_acquisitions_total', { service: 'honest' }), 3, 'the honest process keeps its series')
  } finally {
    clearInterval(heartbeat)
    honest.destroy()
    for (const s of fakes) s.destroy()
  }
})

test('log lines about misbehaving connections are rate-limited', async () => {
  const linesBefore = server.log().split('\n').length
  let connections = 0
  await measured('5 s of connections breaking the protocol', async () => {
    const until = Date.now() + 5000
    while (Date.now() < until) {
      const batch = Array.from({ length: 50 }, () => connectUnix().then((s) => {
        connections++
        s.on('error', () => {})
        s.end(encodeFrame(77, Buffer.alloc(8)))
        return new Promise((resolve) => s.once('close', resolve))
      }))
      await Promise.all(batch)
    }
  })
  await new Promise((resolve) => setTimeout(resolve, 1200)) // the last second's summary line
  const lines = server.log().split('\n').length - linesBefore
  assert.ok(connections > 1000, `${connections} connections`)
  assert.ok(lines <= 6 * (defaultWebLimits.logLinesPerSecond + 1) + 10, `${lines} log lines for ${connections} bad connections`)
  assert.match(server.log(), /similar lines suppressed in the last second \(ingest expected_hello\)/)
  assert.ok(await metric('gilwatch_log_lines_suppressed_total') > 0)
  console.log(`# ${connections} bad connections in 5 s: ${lines} log lines`)
})
