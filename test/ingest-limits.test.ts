// The ingest limits (docs/security.md, "Ingest"): each attack measured against a default
// server, in a bounded form over a real Unix socket, with the server's memory and /metrics
// latency checked and an honest process's numbers checked before and after.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { test } from 'node:test'
import { defaultIngestLimits, limitKinds } from '../server/limits'
import { createLogger, escapeControl } from '../server/log'
import {
  RecordKind, StringKind, encodeFrame, encodeGilTotals, encodeHello, encodeRecords, encodeStatus, encodeString, encodeThread, encodeThreadExit, type WireRecord
} from '../server/protocol'
import { Store } from '../server/store'
import { documentedLimits, gilStrings, hello, repoRoot, startTestServer, totalsFor, waitFor, type TestServer } from './helpers'

const MB = 2 ** 20

async function connect (socketPath: string): Promise<net.Socket> {
  const socket = net.connect(socketPath)
  socket.on('error', () => { /* the server may close it first: that is what some tests check */ })
  await new Promise((resolve) => socket.once('connect', resolve))
  return socket
}

const closed = (socket: net.Socket) => new Promise<void>((resolve) => {
  if (socket.destroyed) return resolve()
  socket.once('close', () => resolve())
})

const range = (domain: number, message: number, startNs: number, durationNs: number): WireRecord =>
  ({ kind: RecordKind.RANGE, domain, message, startNs: BigInt(startNs), endNs: BigInt(startNs + durationNs) })

// An honest process: 50 holds of 1 ms and 20 "work" ranges in domain "app", then heartbeats.
const HONEST_PID = 4242
async function startHonest (server: TestServer): Promise<{ socket: net.Socket, stop(): void }> {
  const socket = await connect(server.socket)
  const records: WireRecord[] = []
  for (let i = 0; i < 50; i++) records.push(range(1, 2, 2e9 + i * 2e6, 1e6))
  for (let i = 0; i < 20; i++) records.push(range(2, 4, 3e9 + i * 1e6, 5e5))
  socket.write(Buffer.concat([
    hello(HONEST_PID, { instance: 0x4242n, service: 'honest' }), gilStrings(),
    encodeString(StringKind.DOMAIN, 2, 'app'), encodeString(StringKind.MESSAGE, 4, 'work'),
    encodeThread(1, 4243, 'MainThread'), encodeRecords(1, records),
    encodeGilTotals(1, [totalsFor(Array.from({ length: 50 }, () => 1e6))]), encodeStatus(4_000_000_000n)
  ]))
  let sentNs = 4_000_000_000n
  const heartbeat = setInterval(() => socket.write(encodeStatus(sentNs += 100_000_000n)), 100)
  return { socket, stop: () => { clearInterval(heartbeat); socket.destroy() } }
}

async function checkHonest (server: TestServer): Promise<void> {
  const p = await waitFor('the honest process', () => server.store.processes().find((x) => x.pid === HONEST_PID && x.rangesReceived === 70))
  assert.equal(p.state, 'connected')
  assert.equal(p.service, 'honest')
  assert.equal(p.threads.length, 1)
  assert.equal(p.threads[0].name, 'MainThread')
  const totals = Object.fromEntries(p.threads[0].ranges.map((r) => [`${r.domain}/${r.message}`, [r.count, r.totalNs]]))
  assert.deepEqual(totals, { 'GIL NVTX Domain/Holding GIL': [50, 50e6], 'app/work': [20, 20 * 5e5] })
  const { samples } = await scrape(server)
  const mine = samples.filter((s) => s.labels.pid === String(HONEST_PID))
  assert.equal(mine.find((s) => s.name === 'python_gil_hold_duration_seconds_count')?.value, 50)
  assert.equal(mine.find((s) => s.name === 'nvtx_range_duration_seconds_count' && s.labels.message === 'work')?.value, 20)
}

interface Sample { name: string, labels: Record<string, string>, value: number }
async function scrape (server: TestServer): Promise<{ samples: Sample[], ms: number, bytes: number }> {
  const started = performance.now()
  const response = await fetch(`${server.httpUrl}/metrics`)
  const text = await response.text()
  const ms = performance.now() - started
  assert.equal(response.status, 200, text.slice(0, 200))
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    assert.ok(match, `unparsable line: ${line.slice(0, 200)}`)
    const labels: Record<string, string> = {}
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]] = pair[2]
    samples.push({ name: match[1], labels, value: Number(match[3]) })
  }
  return { samples, ms, bytes: text.length }
}

const overflows = (server: TestServer) => server.store.counters().limitOverflows
const rss = () => process.memoryUsage().rss

test('the limit names and defaults agree: addon, server/limits.ts and docs/security.md', () => {
  const store = new Store()
  assert.deepEqual(Object.keys(store.counters().limitOverflows).sort(), [...limitKinds].sort())
  store.close()
  // Every default in the docs' table is the addon's (ingest_limits.h), and every limit is there.
  const docs = fs.readFileSync(path.join(repoRoot, 'docs', 'security.md'), 'utf8')
  assert.deepEqual(documentedLimits(docs, 'Ingest'), defaultIngestLimits())
})

test('over-long HELLO and THREAD text is truncated, counted, logged once and escaped', async () => {
  const lines: string[] = []
  const server = await startTestServer({ argvMode: 'full', logger: createLogger('warn', (line) => lines.push(line)) })
  const honest = await startHonest(server)
  const sockets: net.Socket[] = []
  try {
    await checkHonest(server)
    const rssBefore = rss()
    // 15 HELLOs of ~190 KB: service, executable and argv far beyond their limits.
    const service = 'a' + 'é'.repeat(30_000) // a 2-byte character straddles the 256-byte cut
    for (let i = 0; i < 15; i++) {
      const socket = await connect(server.socket)
      sockets.push(socket)
      socket.write(Buffer.concat([
        encodeHello({
          pid: 6000 + i,
          instance: BigInt(100 + i),
          monotonicNs: 0n,
          realtimeNs: 0n,
          service,
          executable: 'x'.repeat(65_000),
          argv: ['y'.repeat(60_000), 'z'.repeat(60_000)]
        }),
        encodeThread(1, 1, 'n'.repeat(65_000))
      ]))
    }
    const attackers = await waitFor('15 attackers', () => {
      const list = server.store.processes().filter((p) => p.pid >= 6000 && p.threads.length === 1)
      return list.length === 15 && list
    })
    for (const p of attackers) {
      assert.equal(Buffer.byteLength(p.service), 255) // cut back to a whole character
      assert.equal(p.service, 'a' + 'é'.repeat(127))
      assert.equal(p.executable.length, 4096)
      assert.deepEqual(p.argv, ['y'.repeat(4096)])
      assert.equal(p.threads[0].name.length, 256)
    }
    const counts = overflows(server)
    assert.deepEqual([counts.service, counts.executable, counts.argv, counts.thread_name], [15, 15, 15, 15])
    const { samples, ms } = await scrape(server)
    console.log(`# /metrics with 15 attackers at every limit: ${ms.toFixed(0)} ms`)
    assert.equal(samples.filter((s) => s.name === 'gilwatch_events_dropped_total').length, 16)
    assert.equal(samples.find((s) => s.name === 'gilwatch_limit_overflows_total' && s.labels.limit === 'service')?.value, 15)
    await checkHonest(server)
    assert.ok(rss() - rssBefore < 200 * MB, `RSS grew by ${(rss() - rssBefore) / MB} MB`)

    // A service name that tries to forge a log line: the server's line about it stays one line.
    const forger = await connect(server.socket)
    forger.write(Buffer.concat([hello(7000, { service: 'evil\n2026-01-01T00:00:00.000Z gilwatch error: forged\u001b[2J' }), encodeFrame(99, Buffer.alloc(8))]))
    await closed(forger)
    const closing = await waitFor('the log line', () => lines.find((l) => l.includes('closing ingest connection from pid 7000')))
    assert.ok(closing.includes('evil\\n2026-01-01T00:00:00.000Z gilwatch error: forged\\u001b[2J'), closing)
    for (const line of lines) assert.equal(line.indexOf('\n'), line.length - 1, `one line: ${JSON.stringify(line)}`)
    // Overflows are logged once per kind, not once per overflow.
    await waitFor('the overflow report', () => lines.some((l) => l.includes('ingest limit "service"')), 3000)
    assert.equal(lines.filter((l) => l.includes('ingest limit "service" exceeded 15 time(s)')).length, 1)
    assert.equal(escapeControl('a\u0000b\rc\u2028'), 'a\\u0000b\\rc\\u2028')
  } finally {
    for (const s of sockets) s.destroy()
    honest.stop()
    await server.close()
  }
})

test('/metrics keeps to its series budget: whole processes are left out, newcomers first', async () => {
  const budget = 3000
  const server = await startTestServer({ limits: { metricsSeries: budget } })
  const honest = await startHonest(server)
  const sockets: net.Socket[] = []
  try {
    await checkHonest(server)
    // 60 fake processes × 10 threads × 10 range keys, as 1000 × 25 × 25 is at full size.
    const fakes = 60
    for (let i = 0; i < fakes; i++) {
      const socket = await connect(server.socket)
      sockets.push(socket)
      const frames = [hello(10_000 + i), gilStrings(), encodeString(StringKind.DOMAIN, 2, 'app')]
      for (let m = 0; m < 10; m++) frames.push(encodeString(StringKind.MESSAGE, 4 + m, `key${m}`))
      for (let t = 1; t <= 10; t++) {
        frames.push(encodeThread(t, 20_000 + t, `worker-${t}`))
        const records = [range(1, 3, 1e9 + t * 1e7, 1e5), range(1, 2, 1e9 + t * 1e7 + 2e5, 1e6)]
        for (let m = 0; m < 10; m++) records.push(range(2, 4 + m, 1e9 + t * 1e7 + 3e6 + m * 1e3, 500))
        frames.push(encodeRecords(t, records))
      }
      frames.push(encodeStatus(2_000_000_000n))
      socket.write(Buffer.concat(frames))
    }
    await waitFor('the fake processes', () => server.store.list().filter((p) => p.pid >= 10_000 && p.rangesReceived === 120).length === fakes)
    const { samples } = await scrape(server)
    const perPid = new Map<string, number>()
    for (const s of samples) if (s.labels.pid) perPid.set(s.labels.pid, (perPid.get(s.labels.pid) ?? 0) + 1)
    const rendered = [...perPid.values()].reduce((a, b) => a + b, 0)
    assert.ok(rendered <= budget, `${rendered} series`)
    assert.ok(perPid.has(String(HONEST_PID)), 'the honest process, reported first, is kept')
    const fakeSizes = new Set([...perPid].filter(([pid]) => Number(pid) >= 10_000).map(([, n]) => n))
    assert.equal(fakeSizes.size, 1)
    const fakeSize = [...fakeSizes][0]
    const kept = perPid.size - 1
    assert.equal(kept, Math.floor((budget - perPid.get(String(HONEST_PID))!) / fakeSize))
    const gauge = (name: string) => samples.find((s) => s.name === name)!.value
    assert.equal(gauge('gilwatch_metrics_processes_dropped'), fakes - kept)
    // The budget counts series exactly as they are rendered.
    assert.equal(gauge('gilwatch_metrics_series_dropped'), (fakes - kept) * fakeSize)
    assert.ok(samples.find((s) => s.name === 'gilwatch_limit_overflows_total' && s.labels.limit === 'metrics_series')!.value >= 1)
    await checkHonest(server)
  } finally {
    for (const s of sockets) s.destroy()
    honest.stop()
    await server.close()
  }
})

test('string tables are per process and bounded: a flood of names costs its sender only', async () => {
  const server = await startTestServer()
  const sockets: net.Socket[] = []
  let honest: Awaited<ReturnType<typeof startHonest>> | undefined
  try {
    const rssBefore = rss()
    const limits = defaultIngestLimits()
    // 4000 distinct 1000-byte messages (4 MB) from one process, then a record naming the last.
    const attacker = await connect(server.socket)
    sockets.push(attacker)
    const frames = [hello(8000), gilStrings(), encodeThread(1, 1, 'main')]
    for (let m = 0; m < 4000; m++) frames.push(encodeString(StringKind.MESSAGE, 10 + m, `${m}:`.padEnd(1000, 'x')))
    frames.push(encodeRecords(1, [range(0, 10, 1e9, 100), range(0, 4009, 1e9 + 1000, 100)]), encodeStatus(2_000_000_000n))
    attacker.write(Buffer.concat(frames))
    const p = await waitFor('the attacker', () => server.store.processes().find((x) => x.pid === 8000 && x.rangesReceived === 2))
    const kept = Math.floor(limits.stringBytesPerProcess / 1000) - 1 // (the table's own entries take a few bytes)
    assert.ok(overflows(server).strings >= 4000 - kept - 1, `strings overflows: ${overflows(server).strings}`)
    const names = p.threads[0].ranges.map((r) => r.message).sort()
    assert.equal(names[0], '(other)') // beyond the process's table
    assert.ok(names[1].startsWith('0:'))
    // The next process's names are its own, the GIL names included.
    honest = await startHonest(server)
    await checkHonest(server)
    assert.ok(rss() - rssBefore < 200 * MB, `RSS grew by ${(rss() - rssBefore) / MB} MB`)
  } finally {
    for (const s of sockets) s.destroy()
    honest?.stop()
    await server.close()
  }
  // Range totals per thread fold beyond their limit.
  const store = new Store({ limits: { rangeKeysPerThread: 4 } })
  const c = store.openConnection('test')
  const frames = [hello(1), encodeThread(1, 1, 'main')]
  for (let m = 1; m <= 10; m++) frames.push(encodeString(StringKind.MESSAGE, m, `m${m}`))
  frames.push(encodeRecords(1, Array.from({ length: 10 }, (_, m) => range(0, m + 1, 1e9 + m * 1000, 10))))
  assert.equal(store.feed(c, Buffer.concat(frames)), undefined)
  const ranges = store.processes()[0].threads[0].ranges
  assert.deepEqual(ranges.map((r) => [r.message, r.count]), [['m1', 1], ['m2', 1], ['m3', 1], ['m4', 1], ['(other)', 6]])
  assert.equal(store.counters().limitOverflows.range_keys, 6)
  store.close()
})

test('threads per process are capped, and /api/processes lists a bounded number', async () => {
  const server = await startTestServer()
  const honest = await startHonest(server)
  const sockets: net.Socket[] = []
  try {
    await checkHonest(server)
    const limits = defaultIngestLimits()
    const rssBefore = rss()
    const threads = limits.threadsPerProcess + 500
    for (let i = 0; i < 3; i++) {
      const socket = await connect(server.socket)
      sockets.push(socket)
      const frames = [hello(9000 + i), gilStrings()]
      for (let t = 1; t <= threads; t++) frames.push(encodeThread(t, t, `thread-${t}`.padEnd(200, '.')))
      // Records and a re-definition for a refused thread are ignored, not a protocol error.
      frames.push(encodeRecords(threads, [range(1, 2, 1e9, 1e6)]), encodeThread(threads, threads, 'renamed'), encodeRecords(1, [range(1, 2, 1e9, 1e6)]))
      socket.write(Buffer.concat(frames))
    }
    await waitFor('the attackers', () => server.store.list().filter((p) => p.pid >= 9000 && p.rangesReceived === 1).length === 3)
    for (const p of server.store.list().filter((x) => x.pid >= 9000)) {
      assert.equal(p.threads, limits.threadsPerProcess)
      assert.equal(p.state, 'connected')
    }
    assert.equal(overflows(server).threads, 3 * 500)
    const started = performance.now()
    const response = await fetch(`${server.httpUrl}/api/processes`)
    const body = await response.text()
    const ms = performance.now() - started
    console.log(`# /api/processes with 3 processes at the thread limit: ${ms.toFixed(0)} ms`)
    assert.ok(body.length < 3 * MB, `/api/processes is ${body.length} bytes`)
    for (const p of JSON.parse(body).processes.filter((x: { pid: number }) => x.pid >= 9000)) {
      assert.equal(p.threads.length, limits.apiThreadsPerProcess)
      assert.equal(p.threadsOmitted, limits.threadsPerProcess - limits.apiThreadsPerProcess)
    }
    assert.equal(server.store.counters().decodeErrors, 0)
    await checkHonest(server)
    assert.ok(rss() - rssBefore < 300 * MB, `RSS grew by ${(rss() - rssBefore) / MB} MB`)
  } finally {
    for (const s of sockets) s.destroy()
    honest.stop()
    await server.close()
  }
})

test('thread churn: exited threads yield their place to new ones, so a thread-per-request program stays monitored', async () => {
  const server = await startTestServer()
  try {
    const limits = defaultIngestLimits()
    const socket = await connect(server.socket)
    // 3 x the limit of threads, one at a time: each defined, one 1 ms hold, then exited.
    const threads = 3 * limits.threadsPerProcess
    const frames = [hello(9500), gilStrings()]
    for (let t = 1; t <= threads; t++) {
      frames.push(encodeThread(t, 20_000 + t, `request-${t}`), encodeRecords(t, [range(1, 2, 2e9 + t * 2e6, 1e6)]),
        encodeThreadExit(t, BigInt(2e9 + t * 2e6 + 1e6)))
    }
    frames.push(encodeStatus(BigInt(3e9 + threads * 2e6)))
    socket.write(Buffer.concat(frames))
    await waitFor('every thread\'s hold', () => server.store.list().find((p) => p.pid === 9500)?.rangesReceived === threads)
    const p = server.store.list().find((x) => x.pid === 9500)!
    assert.equal(overflows(server).threads, 0, 'no thread refused')
    assert.ok(p.threads <= limits.threadsPerProcess, `${p.threads} threads kept`)
    // The newest are the ones kept, with their detail; the first ones made room.
    const ranges = (thread: number) => server.store.ranges(p.instance, { thread }) ?? []
    assert.equal(ranges(threads).length, 1, 'the last thread\'s hold')
    assert.equal(ranges(1).length, 0, 'the first thread is forgotten')
    assert.equal(server.store.counters().decodeErrors, 0)
    socket.destroy()
  } finally {
    await server.close()
  }
})

test('live processes, connections, HELLO and idle timeouts are bounded', async () => {
  const server = await startTestServer({ limits: { liveProcesses: 10, connections: 30, helloTimeoutMs: 300, idleTimeoutMs: 800 } })
  const honest = await startHonest(server)
  const sockets: net.Socket[] = []
  try {
    await checkHonest(server)
    // Nine more processes fill the ten; the eleventh is refused (its connection only).
    for (let i = 0; i < 9; i++) {
      const socket = await connect(server.socket)
      sockets.push(socket)
      socket.write(hello(11_000 + i))
    }
    await waitFor('ten processes', () => server.store.list().length === 10)
    const refused = await connect(server.socket)
    refused.write(hello(11_100))
    await closed(refused)
    assert.equal(overflows(server).live_processes, 1)
    assert.equal(server.store.counters().decodeErrors, 1)
    // Once some disconnect, a newcomer retires the one disconnected longest and is let in.
    sockets[0].destroy()
    await waitFor('a disconnected process', () => server.store.list().some((p) => p.state === 'disconnected'))
    const newcomer = await connect(server.socket)
    sockets.push(newcomer)
    newcomer.write(hello(11_200))
    await waitFor('the newcomer', () => server.store.list().find((p) => p.pid === 11_200))
    assert.equal(server.store.list().find((p) => p.pid === 11_000)?.state, 'retired')
    assert.equal(overflows(server).live_processes, 2)

    // Silent after HELLO: closed after the idle timeout; the honest process sends heartbeats.
    await waitFor('idle connections closed', () => overflows(server).idle_timeout >= 9, 5000)
    assert.ok(server.store.list().filter((p) => p.state === 'connected').every((p) => p.pid === HONEST_PID))

    // 35 connections that never say HELLO: beyond 30 open they are closed at once, the rest
    // after the HELLO timeout.
    const silent: net.Socket[] = []
    for (let i = 0; i < 35; i++) silent.push(await connect(server.socket))
    await Promise.all(silent.map(closed))
    assert.equal(overflows(server).connections, 6) // the honest connection is the 30th
    assert.equal(overflows(server).hello_timeout, 29)
    await checkHonest(server)
  } finally {
    for (const s of sockets) s.destroy()
    honest.stop()
    await server.close()
  }
})

test('definitions are kept per connection only while recording, and bounded', () => {
  const definitions = Buffer.concat([hello(1), ...Array.from({ length: 10 }, (_, m) => encodeString(StringKind.MESSAGE, m + 1, 'd'.repeat(1000)))])
  const plain = new Store()
  const a = plain.openConnection('test')
  assert.equal(plain.feed(a, definitions), undefined)
  assert.equal(plain.preamble(a)!.length, 0)
  plain.close()
  const recording = new Store({ keepDefinitions: true, limits: { definitionBytesPerConnection: 4096 } })
  const b = recording.openConnection('test')
  assert.equal(recording.feed(b, definitions), undefined)
  const kept = recording.preamble(b)!.length
  assert.ok(kept > 0 && kept <= 4096, `${kept} bytes kept`)
  assert.equal(recording.counters().limitOverflows.definitions, 1)
  recording.close()
})

test('/api/processes stays within apiResponseBytes however big the processes; each one can be read alone', async () => {
  const budget = 400_000
  const server = await startTestServer({ argvMode: 'full', limits: { apiResponseBytes: budget } })
  const sockets: net.Socket[] = []
  try {
    // 30 processes, each with a 4 KB command line of control characters (6 JSON bytes each)
    // and 40 threads of 64 range totals named with 1000-byte texts.
    const limits = defaultIngestLimits()
    for (let i = 0; i < 30; i++) {
      const socket = await connect(server.socket)
      sockets.push(socket)
      const frames = [
        encodeHello({ pid: 13_000 + i, instance: BigInt(13_000 + i), monotonicNs: 1n, realtimeNs: 1n, service: 's', argv: ['\x01'.repeat(limits.argvBytes)] }),
        encodeString(StringKind.DOMAIN, 1, 'd'.repeat(1000))
      ]
      for (let m = 1; m <= 64; m++) frames.push(encodeString(StringKind.MESSAGE, m, `${m}`.padEnd(1000, 'm')))
      for (let t = 1; t <= 40; t++) {
        frames.push(encodeThread(t, t, `t${t}`), encodeRecords(t, Array.from({ length: 64 }, (_, m) => range(1, m + 1, 1e9 + m * 10, 5))))
      }
      socket.write(Buffer.concat(frames))
    }
    await waitFor('30 processes', () => server.store.list().filter((p) => p.rangesReceived === 40 * 64).length === 30)
    const body = await (await fetch(`${server.httpUrl}/api/processes`)).text()
    const { processes, processesOmitted } = JSON.parse(body)
    assert.ok(body.length <= budget + 2000, `/api/processes is ${body.length} bytes for a budget of ${budget}`) // + counters
    assert.ok(processesOmitted > 0, 'some processes left out')
    assert.equal(processes.length + processesOmitted, 30)
    // The list is a prefix: every process whole but the last, which may lack threads.
    assert.ok(processes.slice(0, -1).every((p: { threadsOmitted: number }) => p.threadsOmitted === 0))
    // One left out, asked for by itself: it gets a budget of its own (40 x 64 totals of
    // ~2 KB is more than that: it lists the threads that fit and counts the rest).
    const listed = new Set(processes.map((p: { instance: string }) => p.instance))
    const missing = server.store.list().find((p) => p.pid >= 13_000 && !listed.has(p.instance))!
    const one = await fetch(`${server.httpUrl}/api/processes/${missing.instance}`)
    assert.equal(one.status, 200)
    const text = await one.text()
    assert.ok(text.length <= budget, `/api/processes/:instance is ${text.length} bytes`)
    const { process } = JSON.parse(text)
    assert.equal(process.pid, missing.pid)
    assert.equal(process.threads.length + process.threadsOmitted, 40)
    assert.ok(process.threads.length > 0)
    const unknown = await fetch(`${server.httpUrl}/api/processes/0123456789abcdef`)
    assert.equal(unknown.status, 404)
    assert.equal((await unknown.json()).code, 'GW_ERR_NO_SUCH_PROCESS')
  } finally {
    for (const s of sockets) s.destroy()
    await server.close()
  }
})

test('ranges reported open are capped per thread', () => {
  const limits = defaultIngestLimits()
  const store = new Store()
  const c = store.openConnection('test')
  const frames = [hello(1), encodeThread(1, 1, 'main')]
  for (let d = 1; d < 200; d++) frames.push(encodeString(StringKind.DOMAIN, d, `d${d}`))
  // 199 domains x 4 levels: far beyond what a sender reports (16 domains x 4 levels).
  const open: WireRecord[] = []
  for (let d = 1; d < 200; d++) for (let depth = 0; depth < 4; depth++) open.push({ kind: RecordKind.OPEN, domain: d, depth, startNs: BigInt(1e9 + d) })
  frames.push(encodeRecords(1, open))
  assert.equal(store.feed(c, Buffer.concat(frames)), undefined)
  assert.equal(store.processes()[0].threads[0].open.length, limits.openRangesPerThread)
  assert.equal(store.counters().limitOverflows.open_ranges, 199 * 4 - limits.openRangesPerThread)
  store.close()
})
