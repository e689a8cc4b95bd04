// Generated hostile input at every surface of a real server, over real sockets: dashboard
// WebSocket messages, HTTP paths and query strings, ingest frame streams and recordings
// (fast-check: a failure shrinks to a small case and prints its seed; FC_SEED=N replays it).
// Meanwhile an honest program that counts its own GIL releases runs again and again, and
// each of its threads must be counted exactly. What must hold: no input faults the server
// (gilwatch_client_errors_total{reason="handler_error"} stays 0), every refusal is the
// client's alone, and the server answers /healthz after every case.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import path from 'node:path'
import { after, before, test } from 'node:test'
import fc from 'fast-check'
import WebSocket from 'ws'
import { GilwatchError } from '../server/errors'
import {
  FrameType, RecordKind, StringKind, encodeFrame, encodeGilTotals, encodeHello, encodeHoldCause, encodeRecords, encodeStatus,
  encodeString, encodeThread, encodeThreadExit, encodeThreadFolded, layout, type WireRecord
} from '../server/protocol'
import { replay } from '../server/recording'
import { Store } from '../server/store'
import { countedStorm, startTestServer, tempDir, type TestServer } from './helpers'

const seed = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31))
const SLACK = 200 // holds a storm thread makes besides its reads (start, barrier, exit)
console.log(`# fast-check seed ${seed} (replay with FC_SEED=${seed})`)

let server: TestServer
before(async () => {
  // Limits on message rate and connections are raised so that the generated cases reach the
  // handlers; the limits themselves are tested in web-security.test.ts.
  server = await startTestServer({ webLimits: { wsMessagesPerSecond: 1e6, wsClientsPerPeer: 1e6, httpConnectionsPerPeer: 1e6 } })
})
after(async () => { await server.close() })

const faults = async () => {
  const text = await (await fetch(`${server.httpUrl}/metrics`)).text()
  const count = (reason: string) => [...text.matchAll(new RegExp(`^gilwatch_client_errors_total\\{surface="(\\w+)",reason="${reason}"\\} (\\d+)`, 'gm'))]
    .reduce((n, m) => n + Number(m[2]), 0)
  return { handlerErrors: count('handler_error'), invalid: count('invalid_message'), rejected: count('rejected_request') }
}
const healthy = async () => assert.equal((await fetch(`${server.httpUrl}/healthz`)).status, 200, 'the server answers /healthz')

// Runs `attack` while the honest storm runs over and over; every storm's threads must be
// counted exactly, and none of the attack may fault the server.
async function whileHonest (attack: () => Promise<void>): Promise<void> {
  const attacking = { on: true }
  const storms: Array<Array<{ name: string, reads: number, counted: number }>> = []
  const honest = (async () => {
    do storms.push(await countedStorm({ url: server.httpUrl!, socket: server.socket }, 4, 20_000))
    while (attacking.on)
  })()
  try {
    await attack()
  } finally {
    attacking.on = false
    await honest
  }
  for (const storm of storms) {
    assert.equal(storm.length, 4)
    for (const t of storm) assert.ok(t.counted >= t.reads && t.counted <= t.reads + SLACK, `${t.name} made ${t.reads} reads, /metrics counts ${t.counted}`)
  }
  console.log(`# ${storms.length} honest storms during the attack, every thread counted within +${SLACK} of its own count`)
  assert.equal((await faults()).handlerErrors, 0, 'no input faulted the server')
  await healthy()
}

// ---- WebSocket messages ----

const hex16 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((n) => n.toString(16).padStart(16, '0'))
const anyValue = fc.oneof(fc.jsonValue(), fc.constant(null), fc.string(), fc.double(), fc.array(fc.integer()))
const numberish = fc.oneof(fc.double(), fc.integer(), fc.constantFrom(0, -1, 1e308, -1e308, 2 ** 53, 8000, 30_000), anyValue)
const subscribe = fc.record({
  type: fc.oneof(fc.constant('subscribe'), anyValue),
  instance: fc.oneof(hex16, fc.constant(null), anyValue),
  live: fc.oneof(fc.boolean(), anyValue),
  windowMs: numberish,
  widthPx: numberish,
  longHoldMs: numberish,
  startNs: numberish,
  endNs: numberish
}, { requiredKeys: [] })
const wsMessage = fc.oneof(
  subscribe.map((m) => JSON.stringify(m)),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 300 }),
  fc.constantFrom('null', '1e999', '[]', '""', 'true', '{"type":"subscribe","startNs":0,"endNs":1e999,"live":false}',
    '{"type":"subscribe","live":false,"startNs":5,"endNs":5}', '{"type":"subscribe","__proto__":{"live":false}}',
    '{"type":"subscribe","constructor":{"prototype":{}}}', '{"type":"subscribe","widthPx":1e-300}')
)

// Sends one message on a fresh dashboard socket: how the server answered it.
function exchange (text: string): Promise<{ closed: number | null }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${server.httpUrl!.replace('http', 'ws')}/ws`)
    let sent = false
    const timer = setTimeout(() => { socket.terminate(); resolve({ closed: null }) }, 150)
    socket.on('message', (data) => {
      const message = JSON.parse(data.toString())
      if (!sent && message.type === 'processes') {
        sent = true
        socket.send(text)
      } else if (sent && (message.type === 'full' || message.type === 'update')) {
        clearTimeout(timer)
        socket.terminate()
        resolve({ closed: null })
      }
    })
    socket.on('close', (code) => { clearTimeout(timer); resolve({ closed: code }) })
    socket.on('error', reject)
  })
}

test('WebSocket: generated dashboard messages close only their own client, with 1008 when invalid', async () => {
  await whileHonest(async () => {
    await fc.assert(fc.asyncProperty(wsMessage, async (text) => {
      const { closed } = await exchange(text)
      assert.ok(closed === null || closed === 1008 || closed === 1009, `closed with ${closed}`)
      await healthy()
    }), { numRuns: 300, seed })
  })
  assert.ok((await faults()).invalid > 0, 'invalid messages were counted')
})

// ---- HTTP paths and query strings ----

const segment = fc.oneof(
  fc.constantFrom('api', 'processes', 'ranges', 'long-holds', 'metrics', 'healthz', 'ws', 'index.html', 'app.js', '..', '%2e%2e', '', '%00', 'favicon.ico'),
  hex16,
  fc.string({ maxLength: 20 }).map(encodeURIComponent)
)
const queryValue = fc.oneof(fc.integer().map(String), fc.double().map(String), fc.constantFrom('', 'NaN', 'Infinity', '-1', '1e309', '0x10', '4294967296', '100001'),
  fc.string({ maxLength: 20 }))
const query = fc.array(fc.tuple(fc.oneof(fc.constantFrom('thread', 'sinceNs', 'offset', 'limit', 'thresholdMs', 'token', '__proto__'), fc.string({ maxLength: 8 })), queryValue), { maxLength: 4 })
  .map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&'))
const httpPath = fc.tuple(fc.array(segment, { minLength: 1, maxLength: 5 }), fc.option(query))
  .map(([segments, q]) => `/${segments.join('/')}${q === null ? '' : `?${q}`}`)

function get (pathname: string): Promise<{ status: number, body: string, type: string }> {
  const url = new URL(server.httpUrl!)
  return new Promise((resolve, reject) => {
    http.get({ host: url.hostname, port: url.port, path: pathname }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (d) => { body += d })
      response.on('end', () => resolve({ status: response.statusCode!, body, type: String(response.headers['content-type']) }))
    }).on('error', reject)
  })
}

test('HTTP: generated paths and query strings get 2xx, 400 or 404 with a code, never a fault', async () => {
  await whileHonest(async () => {
    await fc.assert(fc.asyncProperty(httpPath, async (pathname) => {
      const answer = await get(pathname)
      assert.ok([200, 204, 400, 404].includes(answer.status), `${pathname}: ${answer.status} ${answer.body.slice(0, 200)}`)
      if (answer.status >= 400 && answer.type.startsWith('application/json')) {
        assert.match(JSON.parse(answer.body).code, /^GW_ERR_[A-Z_]+$/, `${pathname}: ${answer.body}`)
      }
    }), { numRuns: 400, seed })
  })
})

// ---- Ingest frames ----

const u32 = fc.integer({ min: 0, max: 0xffffffff })
const smallId = fc.oneof(fc.integer({ min: 0, max: 8 }), u32)
const ns = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })
const wireRecord: fc.Arbitrary<WireRecord> = fc.record({
  kind: fc.integer({ min: 0, max: 7 }),
  domain: smallId,
  message: smallId,
  aux: u32,
  depth: fc.integer({ min: 0, max: 255 }),
  flags: fc.integer({ min: 0, max: 255 }),
  payloadType: fc.integer({ min: 0, max: 5 }),
  payload: ns,
  startNs: ns,
  endNs: ns
})
const frame = fc.oneof(
  fc.tuple(fc.integer({ min: 1, max: 3 }), smallId, fc.string({ maxLength: 40 }), smallId).map(([kind, id, text, domain]) => encodeString(kind, id, text, domain)),
  fc.tuple(smallId, u32, fc.string({ maxLength: 40 })).map(([thread, tid, name]) => encodeThread(thread, tid, name)),
  fc.tuple(smallId, fc.array(wireRecord, { maxLength: 20 })).map(([thread, records]) => encodeRecords(thread, records)),
  fc.tuple(ns, ns, ns, u32, fc.integer({ min: 0, max: 3 })).map(([sent, dropped, pops, threads, flags]) => encodeStatus(sent, dropped, pops, threads, flags)),
  fc.tuple(smallId, ns).map(([thread, at]) => encodeThreadExit(thread, at)),
  smallId.map((thread) => encodeThreadFolded(thread)),
  fc.tuple(smallId, ns, fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.boolean()).map(([thread, startNs, interp, final]) => encodeHoldCause({ thread, startNs, interp, final })),
  fc.tuple(smallId, fc.array(fc.record({ interp: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), holds: ns, holdNs: ns, waits: ns }), { maxLength: 6 }))
    .map(([thread, entries]) => encodeGilTotals(thread, entries)),
  fc.tuple(fc.integer({ min: 0, max: 14 }), fc.uint8Array({ maxLength: 600 })).map(([type, body]) => encodeFrame(type, Buffer.from(body))),
  // A raw header with any length: unaligned, huge, or a frame cut short.
  fc.tuple(u32, fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ maxLength: 64 })).map(([length, type, rest]) => {
    const header = Buffer.alloc(layout.frameHeader.size)
    header.writeUInt32LE(length, layout.frameHeader.length)
    header.writeUInt16LE(type, layout.frameHeader.type)
    return Buffer.concat([header, Buffer.from(rest)])
  })
)
const stream = fc.tuple(hex16, fc.array(frame, { maxLength: 12 }), fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 8 }), fc.boolean())

test('ingest: generated frame streams close only their own connection; the honest program stays exact', async () => {
  await whileHonest(async () => {
    await fc.assert(fc.asyncProperty(stream, async ([instance, frames, cuts, withHello]) => {
      const bytes = Buffer.concat([
        ...(withHello ? [encodeHello({ pid: 31337, ppid: 1, instance: BigInt(`0x${instance}`), monotonicNs: 1n, realtimeNs: 1n, service: 'fuzz', executable: '/x', argv: ['x'] })] : []),
        encodeString(StringKind.DOMAIN, 1, 'GIL NVTX Domain'), encodeString(StringKind.MESSAGE, 2, 'Holding GIL'), encodeThread(1, 1, 't'),
        ...frames
      ])
      const socket = net.connect(server.socket)
      await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject))
      let at = 0
      for (let i = 0; at < bytes.length; i++) {
        const size = cuts[i % cuts.length]
        socket.write(bytes.subarray(at, at + size))
        at += size
      }
      socket.end()
      await new Promise((resolve) => { socket.once('close', resolve); socket.resume() })
      await healthy()
    }), { numRuns: 300, seed })
  })
  // The fuzz processes never took the honest program's place, and no instance was two processes.
  const instances = server.store.list().map((p) => p.instance)
  assert.equal(new Set(instances).size, instances.length)
})

// ---- Recordings ----

test('recordings: damaged files replay whole chunks or are refused with GW_ERR_NOT_A_RECORDING, in bounded memory', async () => {
  const dir = tempDir()
  const file = path.join(dir, 'session.gwrec')
  const recorder = await startTestServer({ record: { path: file, maxBytes: 1 << 30 } })
  try {
    await countedStorm({ url: recorder.httpUrl!, socket: recorder.socket }, 2, 2000)
  } finally {
    await recorder.close()
  }
  // A real recording of a short session: the generated damage is done to it.
  const recording = fs.readFileSync(file)
  assert.equal(recording.subarray(0, 8).toString(), 'GILWREC2')
  type Damage = (b: Buffer) => Buffer
  const damage = fc.array(fc.oneof<Array<fc.Arbitrary<Damage>>>(
    fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })).map(([at, value]) => (b: Buffer) => { b[at % b.length] = value; return b }),
    fc.tuple(fc.nat(), fc.integer({ min: 0, max: 0xffffffff })).map(([at, value]) => (b: Buffer) => { if (b.length >= 4) b.writeUInt32LE(value, at % (b.length - 3)); return b }),
    fc.nat().map((at) => (b: Buffer) => b.subarray(0, at % (b.length + 1))),
    fc.uint8Array({ maxLength: 64 }).map((junk) => (b: Buffer) => Buffer.concat([b, Buffer.from(junk)]))
  ), { minLength: 1, maxLength: 6 })
  await fc.assert(fc.asyncProperty(damage, async (changes) => {
    const damaged = changes.reduce<Buffer>((b, change) => change(b), Buffer.from(recording))
    const target = path.join(dir, 'damaged.gwrec')
    fs.writeFileSync(target, damaged)
    const store = new Store({ retireAfterMs: 1e12 })
    try {
      replay(target, store)
      store.list().forEach((p) => store.summary(p.instance))
    } catch (error) {
      assert.ok(error instanceof GilwatchError && error.code === 'GW_ERR_NOT_A_RECORDING', `${(error as Error).stack}`)
    } finally {
      store.close()
    }
  }), { numRuns: 300, seed })
  fs.rmSync(dir, { recursive: true, force: true })
})

test('the frame types the generator knows are the protocol\'s', () => {
  // A new frame type must be added to the generator above, or it goes unfuzzed.
  assert.deepEqual(Object.values(FrameType).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12])
  assert.ok(Object.values(RecordKind).every((k) => k <= 7))
})
