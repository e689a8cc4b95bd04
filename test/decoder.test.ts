// The native decoder: valid streams in any chunking, every malformed frame rejected with its
// code, a hostile connection closed without harming others, and a seeded fuzz run.
import assert from 'node:assert/strict'
import net from 'node:net'
import { test } from 'node:test'
import { decodeErrorCodes } from '../server/errors'
import {
  RecordKind, StringKind, encodeFrame, encodeHello, encodeRecords, encodeStatus, encodeString, encodeThread,
  encodeThreadExit, layout, MAX_FRAME_BODY, type WireRecord
} from '../server/protocol'
import { Store } from '../server/store'
import { TIMELINE_ITEM_FIELDS, TimelineItem } from '../server/shared/views'
import { startTestServer, waitFor } from './helpers'

const hello = (instance = 1n) => encodeHello({
  pid: 4242,
  ppid: 1,
  instance,
  monotonicNs: 1_000_000_000n,
  realtimeNs: 1_700_000_000_000_000_000n,
  service: 'svc',
  executable: '/usr/bin/python3',
  argv: ['python3', 'app.py']
})
const range = (startNs: bigint, endNs: bigint, message = 2): WireRecord =>
  ({ kind: RecordKind.RANGE, domain: 1, message, startNs, endNs })

function validStream (ranges = 100): Buffer {
  const records: WireRecord[] = []
  for (let i = 0; i < ranges; i++) records.push(range(BigInt(2e9 + i * 1000), BigInt(2e9 + i * 1000 + 500), 2 + (i % 2)))
  return Buffer.concat([
    hello(),
    encodeString(StringKind.DOMAIN, 1, 'GIL NVTX Domain'),
    encodeString(StringKind.MESSAGE, 2, 'Holding GIL'),
    encodeString(StringKind.MESSAGE, 3, 'Waiting for GIL'),
    encodeThread(1, 777, 'MainThread'),
    encodeRecords(1, records),
    encodeStatus(3_000_000_000n, 5n, 1n, 1),
    encodeThreadExit(1, 3_000_000_001n)
  ])
}

// A deterministic PRNG so a failing fuzz case can be replayed.
function mulberry32 (seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

test('a valid stream decodes the same whatever the chunk boundaries', () => {
  const stream = validStream(1000)
  const random = mulberry32(7)
  for (const chunking of ['whole', 'bytes', 'random']) {
    const store = new Store()
    const c = store.openConnection('test')
    if (chunking === 'whole') {
      assert.equal(store.feed(c, stream), undefined)
    } else {
      for (let at = 0; at < stream.length;) {
        const size = chunking === 'bytes' ? 1 : 1 + Math.floor(random() * 300)
        assert.equal(store.feed(c, stream.subarray(at, at + size)), undefined)
        at += size
      }
    }
    const [p] = store.processes()
    assert.equal(p.pid, 4242)
    assert.equal(p.service, 'svc')
    assert.deepEqual(p.argv, ['python3', 'app.py'])
    assert.equal(p.droppedEvents, 5)
    assert.equal(p.unmatchedPops, 1)
    assert.equal(p.rangesReceived, 1000, chunking)
    const [t] = p.threads
    assert.equal(t.name, 'MainThread')
    assert.equal(t.tid, 777)
    assert.equal(t.exited, true)
    const holding = t.ranges.find((r) => r.message === 'Holding GIL')!
    assert.deepEqual({ count: holding.count, totalNs: holding.totalNs, maxNs: holding.maxNs, domain: holding.domain },
      { count: 500, totalNs: 500 * 500, maxNs: 500, domain: 'GIL NVTX Domain' })
    // wall time = realtime at HELLO + (range start - monotonic at HELLO)
    const first = store.ranges(p.instance)![0]
    assert.equal(first.startMs, (1_700_000_000_000_000_000 + 1e9) / 1e6)
    store.close()
  }
})

test('open ranges: a RANGE closes its own OPEN, not the newer range reported open before it', () => {
  const store = new Store()
  const c = store.openConnection('test')
  const open = (message: number, startNs: bigint): WireRecord => ({ kind: RecordKind.OPEN, domain: 1, message, startNs })
  const feed = (...frames: Buffer[]) => assert.equal(store.feed(c, Buffer.concat(frames)), undefined)
  feed(hello(), encodeString(StringKind.DOMAIN, 1, 'GIL NVTX Domain'), encodeString(StringKind.MESSAGE, 2, 'Holding GIL'),
    encodeString(StringKind.MESSAGE, 3, 'Waiting for GIL'), encodeThread(1, 777, 'MainThread'))
  // One batch: the next hold's OPEN (it began at 5 s) before the wait that preceded it (4-5 s).
  feed(encodeRecords(1, [open(2, 5_000_000_000n), range(4_000_000_000n, 5_000_000_000n, 3)]))
  let [t] = store.processes()[0].threads
  assert.deepEqual(t.open.map((o) => [o.message, o.startNs]), [['Holding GIL', 5e9]])
  // Its own RANGE closes it.
  feed(encodeRecords(1, [range(5_000_000_000n, 6_000_000_000n, 2)]))
  ;[t] = store.processes()[0].threads
  assert.deepEqual(t.open, [])
  store.close()
})

const malformed: Array<[string, () => Buffer, string]> = [
  ['no HELLO first', () => encodeString(StringKind.MESSAGE, 2, 'x'), 'expected_hello'],
  ['bad magic', () => { const h = hello(); h.writeUInt32LE(0xdeadbeef, layout.frameHeader.size); return h }, 'bad_magic'],
  ['bad version', () => { const h = hello(); h.writeUInt16LE(99, layout.frameHeader.size + layout.hello.version); return h }, 'bad_version'],
  ['wrong record size', () => { const h = hello(); h.writeUInt16LE(32, layout.frameHeader.size + layout.hello.recordSize); return h }, 'bad_version'],
  ['oversized frame length', () => { const f = Buffer.alloc(8); f.writeUInt32LE(MAX_FRAME_BODY + 8, 0); f.writeUInt16LE(4, 4); return Buffer.concat([hello(), f]) }, 'frame_too_large'],
  ['length not a multiple of 8', () => { const f = Buffer.alloc(8 + 3); f.writeUInt32LE(3, 0); f.writeUInt16LE(5, 4); return Buffer.concat([hello(), f]) }, 'bad_length'],
  ['record count beyond the frame', () => { const r = encodeRecords(1, [range(1n, 2n)]); r.writeUInt32LE(1000, 8 + 4); return Buffer.concat([hello(), encodeThread(1, 1, 't'), r]) }, 'bad_length'],
  ['records for an undefined thread', () => Buffer.concat([hello(), encodeRecords(9, [range(1n, 2n)])]), 'unknown_id'],
  ['a record with an undefined message', () => Buffer.concat([hello(), encodeString(StringKind.DOMAIN, 1, 'd'), encodeThread(1, 1, 't'), encodeRecords(1, [range(1n, 2n, 77)])]), 'unknown_id'],
  ['a record with an undefined domain', () => Buffer.concat([hello(), encodeThread(1, 1, 't'), encodeRecords(1, [range(1n, 2n, 0)])]), 'unknown_id'],
  ['a domain id out of range', () => Buffer.concat([hello(), encodeString(StringKind.DOMAIN, 5000, 'd')]), 'bad_id'],
  ['an unknown record kind', () => Buffer.concat([hello(), encodeThread(1, 1, 't'), encodeRecords(1, [{ kind: 42 }])]), 'bad_record'],
  ['an unknown frame type', () => Buffer.concat([hello(), encodeFrame(99, Buffer.alloc(8))]), 'unknown_frame'],
  ['HELLO twice', () => Buffer.concat([hello(), hello()]), 'duplicate_hello'],
  ['a truncated HELLO', () => encodeFrame(1, Buffer.alloc(16)), 'bad_length']
]

for (const [name, build, code] of malformed) {
  test(`rejected: ${name} (${code})`, () => {
    const store = new Store()
    const c = store.openConnection('test')
    const error = store.feed(c, build())
    assert.equal(error?.code, code, `got ${JSON.stringify(error)}`)
    assert.ok(error!.message.length > 10)
    assert.equal(store.counters().decodeErrors, 1)
    // Once failed, a connection stays failed; a fresh one on the same store works.
    assert.equal(store.feed(c, validStream(1))?.code, code)
    const other = store.openConnection('test')
    assert.equal(store.feed(other, validStream(3)), undefined)
    store.close()
  })
}

test('a hostile connection is closed; the server and other connections go on', async () => {
  const server = await startTestServer()
  try {
    const good = net.connect(server.socket)
    await new Promise((resolve) => good.once('connect', resolve))
    good.write(validStream(10).subarray(0, 200)) // half a stream, kept open
    const bad = net.connect(server.socket)
    const closed = new Promise((resolve) => bad.once('close', resolve))
    bad.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))
    await closed
    good.write(validStream(10).subarray(200))
    const p = await waitFor('the good connection\'s ranges', async () =>
      (await server.processes()).find((x) => x.rangesReceived === 10))
    assert.equal(p.state, 'connected')
    assert.equal(server.store.counters().decodeErrors, 1)
    good.destroy()
  } finally {
    await server.close()
  }
})

test('seeded fuzz: mutated streams never crash the decoder and fail only with known codes', () => {
  const seed = Number(process.env.GILWATCH_FUZZ_SEED ?? 20261125)
  const random = mulberry32(seed)
  const base = validStream(40)
  const store = new Store({ recentPerThread: 64 })
  const seen = new Set<string>()
  for (let i = 0; i < 3000; i++) {
    const stream = Buffer.from(base)
    const mutations = 1 + Math.floor(random() * 8)
    for (let m = 0; m < mutations; m++) {
      const at = Math.floor(random() * stream.length)
      const choice = random()
      if (choice < 0.6) stream[at] = Math.floor(random() * 256)
      else if (choice < 0.8) stream.writeUInt32LE(Math.floor(random() * 2 ** 32), Math.min(at, stream.length - 4))
      else stream[at] ^= 1 << Math.floor(random() * 8)
    }
    const cut = random() < 0.3 ? Math.floor(random() * stream.length) : stream.length
    const c = store.openConnection('test')
    let error
    for (let at = 0; at < cut && !error;) {
      const size = 1 + Math.floor(random() * 512)
      error = store.feed(c, stream.subarray(at, Math.min(cut, at + size)))
      at += size
    }
    if (error) {
      assert.ok((decodeErrorCodes as readonly string[]).includes(error.code), `seed ${seed} case ${i}: unknown code ${error.code}`)
      seen.add(error.code)
    }
    store.closeConnection(c)
    if (i % 500 === 0) store.processes() // snapshots of half-decoded state must be sound too
  }
  assert.ok(seen.size >= 4, `the fuzzer reached several rejection paths: ${[...seen].join(', ')}`)
  store.close()
})

test('timeline: density bins carry no name (strings[0] is ""), ranges their own', () => {
  // A ring of 16 ranges: the 200 user ranges before it are only in density bins.
  const store = new Store({ recentPerThread: 16 })
  const c = store.openConnection('test')
  const records: WireRecord[] = []
  for (let i = 0; i < 216; i++) records.push({ kind: RecordKind.RANGE, domain: 2, message: 4 + (i % 2), startNs: BigInt(2e9 + i * 1e6), endNs: BigInt(2e9 + i * 1e6 + 1e5) })
  assert.equal(store.feed(c, Buffer.concat([
    hello(), encodeString(StringKind.DOMAIN, 2, 'app'), encodeString(StringKind.MESSAGE, 4, 'parse'),
    encodeString(StringKind.MESSAGE, 5, 'render'), encodeThread(1, 777, 'MainThread'), encodeRecords(1, records),
    encodeStatus(2_300_000_000n)
  ])), undefined)
  const instance = store.list()[0].instance
  const view = store.timeline(instance, 2e9, 2.3e9, 1e6)!
  assert.equal(view.strings[0], '')
  const items = view.lanes[0].items
  const names = new Set<string>()
  let binned = 0
  for (let i = 0; i < items.length; i += TIMELINE_ITEM_FIELDS) {
    const name = view.strings[items[i + TimelineItem.MESSAGE]]
    if (name === '') binned += items[i + TimelineItem.COUNT]
    else names.add(name)
  }
  // The 200 before the ring, and those of the ring's first 20 ms bin (bins are coarse).
  assert.ok(binned >= 200 && binned <= 216, `${binned} ranges as density`)
  assert.deepEqual([...names].sort(), ['parse', 'render'])
  store.close()
})
