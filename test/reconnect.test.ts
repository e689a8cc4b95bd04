// A sender that replaces its connection (its thread stops around fork(), and its socket with
// it) says so in its last STATUS (GW_STATUS_RECONNECTING): the ranges it reported open stay
// open for the next connection to end, and are never counted twice. Through the real probe
// and CPython, and frame by frame for the case where no reconnection comes.
import assert from 'node:assert/strict'
import net from 'node:net'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { paths } from '../server/config'
import {
  RecordKind, StatusFlag, StringKind, encodeHello, encodeRecords, encodeStatus, encodeString, encodeThread
} from '../server/protocol'
import { fixturesDir, monitoredEnv, run, startTestServer, stockPythons, waitFor, type TestServer } from './helpers'

let server: TestServer
before(async () => { server = await startTestServer() })
after(async () => { await server.close() })

test('CPython forking 20 times while threads wait for the GIL: no range counted twice', async () => {
  const python = stockPythons().find((p) => p.endsWith('python3.11'))
  assert.ok(python, 'a stock CPython 3.11')
  const result = await run(python!, [path.join(fixturesDir, 'python', 'fork_while_waiting.py')], monitoredEnv(server.socket, {
    LD_PRELOAD: paths.probeLibrary, PYTHONPATH: paths.pythonHook
  }))
  assert.equal(result.code, 0, result.stderr)
  const pid = Number(/pid (\d+)/.exec(result.stdout)![1])
  const process = await waitFor('the process', async () => (await server.processes()).find((p) => p.pid === pid && p.state !== 'connected'))
  const ranges = await server.ranges(process.instance)
  const seen = new Set<string>()
  const twice = ranges.filter((r) => {
    const key = `${r.tid}/${r.message}/${r.startNs}`
    if (seen.has(key)) return true
    seen.add(key)
    return false
  })
  assert.ok(ranges.length > 1000, `${ranges.length} ranges`)
  assert.deepEqual(twice, [], `${twice.length} ranges counted twice`)
})

async function connection (): Promise<net.Socket> {
  const socket = net.connect(server.socket)
  await new Promise((resolve) => socket.once('connect', resolve))
  return socket
}

function opening (pid: number, instance: bigint): Buffer {
  return Buffer.concat([
    encodeHello({ pid, instance, monotonicNs: 1_000_000_000n, realtimeNs: 1_700_000_000_000_000_000n, service: 'forker' }),
    encodeString(StringKind.DOMAIN, 1, 'GIL NVTX Domain'), encodeString(StringKind.MESSAGE, 2, 'Holding GIL'),
    encodeThread(1, pid, 'MainThread')
  ])
}

const open = { kind: RecordKind.OPEN, domain: 1, message: 2, depth: 0, startNs: 2_000_000_000n }

async function endWith (socket: net.Socket, frames: Buffer): Promise<void> {
  socket.end(frames)
  await new Promise((resolve) => socket.once('close', resolve))
}

test('an announced reconnection keeps an open hold open; the next connection ends it once', async () => {
  const first = await connection()
  await endWith(first, Buffer.concat([opening(7100, 7100n), encodeRecords(1, [open]),
    encodeStatus(2_020_000_000n, 0n, 0n, 1, StatusFlag.RECONNECTING)]))
  await waitFor('the first connection to end', () => server.store.list().find((p) => p.pid === 7100)?.state === 'disconnected')
  const instance = server.store.list().find((p) => p.pid === 7100)!.instance
  assert.equal((await server.ranges(instance)).length, 0, 'still open, not closed at the disconnection')

  const second = await connection()
  await endWith(second, Buffer.concat([opening(7100, 7100n),
    encodeRecords(1, [{ ...open, kind: RecordKind.RANGE, endNs: 2_030_000_000n }]), encodeStatus(2_040_000_000n, 0n, 0n, 1)]))
  await waitFor('the second connection to end', () => server.store.list().find((p) => p.pid === 7100)?.state === 'disconnected')
  const ranges = await server.ranges(instance)
  assert.deepEqual(ranges.map((r) => [r.startNs, r.endNs, r.closedBy]), [[2_000_000_000, 2_030_000_000, 'pop']])
})

test('an announced reconnection that never comes: the open hold ends where the connection did, once', async () => {
  const socket = await connection()
  await endWith(socket, Buffer.concat([opening(7200, 7200n), encodeRecords(1, [open]),
    encodeStatus(2_020_000_000n, 0n, 0n, 1, StatusFlag.RECONNECTING)]))
  const instance = await waitFor('the connection to end', () => server.store.list().find((p) => p.pid === 7200 && p.state === 'disconnected')?.instance)
  const ranges = await waitFor('the open hold to be closed', async () => {
    const found = await server.ranges(instance)
    return found.length ? found : undefined
  }, 10_000)
  assert.equal(ranges.length, 1)
  assert.equal(ranges[0].closedBy, 'disconnect')
  assert.equal(ranges[0].startNs, 2_000_000_000)
})
