// Exact GIL numbers under load: every count a user sees comes from totals each thread keeps
// in the monitored process (native/injection/gil_totals.c), so it equals what the workload
// did whatever ranges were dropped on the way. Workloads here count their own GIL releases.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { paths } from '../server/config'
import { buildPython, patchedVersions } from '../server/cli/python-build'
import { STOCK_PYTHON, finished, monitoredEnv, parseExposition, run, script, startTestServer, waitFor, type TestServer } from './helpers'

const SLACK = 200 // holds a storm thread makes besides its reads (start, barrier, exit)

let server: TestServer
before(async () => { server = await startTestServer() })
after(async () => { await server.close() })

async function metricsOf (pid: number) {
  const text = await (await fetch(`${server.httpUrl}/metrics`)).text()
  return parseExposition(text).filter((s) => s.labels.pid === String(pid))
}

// Per thread: its acquisitions from /metrics, all contended labels together.
function acquisitionsByThread (samples: ReturnType<typeof parseExposition>): Map<string, number> {
  const out = new Map<string, number>()
  for (const s of samples.filter((s) => s.name === 'python_gil_acquisitions_total')) {
    out.set(s.labels.thread, (out.get(s.labels.thread) ?? 0) + s.value)
  }
  return out
}

async function checkStorm (python: string, env: NodeJS.ProcessEnv, what: string) {
  const started = process.hrtime.bigint()
  const result = await run(python, [script('counted_storm.py'), '8', '20000'], env, 120_000)
  const wallNs = Number(process.hrtime.bigint() - started)
  assert.equal(result.code, 0, result.stderr)
  const pid = Number(/pid (\d+)/.exec(result.stdout)![1])
  const threads = [...result.stdout.matchAll(/^thread (\S+) (\d+) (\d+)$/gm)].map((m) => ({ name: m[1], reads: Number(m[3]) }))
  assert.equal(threads.length, 8)
  const snapshot = await finished(server, pid)
  const samples = await metricsOf(pid)
  const byThread = acquisitionsByThread(samples)
  for (const t of threads) {
    const counted = byThread.get(t.name)
    assert.ok(counted !== undefined, `${what}: no acquisitions for ${t.name}`)
    assert.ok(counted >= t.reads && counted <= t.reads + SLACK, `${what}: ${t.name} made ${t.reads} reads, /metrics counts ${counted}`)
  }
  // Histogram counts equal the counters; hold time fits in the wall time.
  const sum = (name: string, filter: (l: Record<string, string>) => boolean = () => true) =>
    samples.filter((s) => s.name === name && filter(s.labels)).reduce((n, s) => n + s.value, 0)
  const acquisitions = sum('python_gil_acquisitions_total')
  assert.equal(sum('python_gil_hold_duration_seconds_count'), acquisitions, `${what}: hold histogram count`)
  assert.equal(sum('python_gil_wait_duration_seconds_count'), sum('python_gil_acquisitions_total', (l) => l.contended === 'true'),
    `${what}: wait histogram count vs contended acquisitions`)
  const heldSeconds = sum('python_gil_hold_seconds_total')
  assert.ok(heldSeconds > 0 && heldSeconds * 1e9 <= wallNs, `${what}: ${heldSeconds} s held in ${wallNs / 1e9} s`)
  console.log(`# ${what}: per-thread acquisitions ${[...byThread.values()].join(', ')}; ${snapshot.droppedEvents} range events dropped`)
}

describe('a storm that counts its own GIL releases', () => {
  test('stock CPython 3.11 through the probe: every thread counted exactly, default settings', async () => {
    await checkStorm(STOCK_PYTHON, monitoredEnv(server.socket, { LD_PRELOAD: paths.probeLibrary, PYTHONPATH: paths.pythonHook }), 'probe')
  })

  test('the NVTX-patched CPython: every thread counted exactly, default settings', async () => {
    const python = (await buildPython({ minor: patchedVersions()[0], log: () => {} })).python
    await checkStorm(python, monitoredEnv(server.socket, { PYTHONPATH: paths.pythonHook }), 'patch')
  })
})

test('100 fork children ending with os._exit: all reported with their exact counts', async () => {
  const env = monitoredEnv(server.socket, { LD_PRELOAD: paths.probeLibrary, PYTHONPATH: paths.pythonHook })
  const result = await run(STOCK_PYTHON, [script('fork_exit_children.py'), '100', '200'], env, 180_000)
  assert.equal(result.code, 0, result.stderr)
  const children = [...result.stdout.matchAll(/^child (\d+)$/gm)].map((m) => Number(m[1]))
  assert.equal(children.length, 100)
  for (const pid of children) {
    const snapshot = await finished(server, pid)
    const byThread = acquisitionsByThread(await metricsOf(pid))
    for (const name of ['storm-0', 'storm-1']) {
      const counted = byThread.get(name) ?? 0
      assert.ok(counted >= 200 && counted <= 200 + SLACK, `child ${pid} ${name}: ${counted} (threads ${snapshot.threads.map((t) => t.name)})`)
    }
  }
})

test('a process killed with SIGKILL: what it counted up to its last tick reached the server', async () => {
  const env = monitoredEnv(server.socket, { LD_PRELOAD: paths.probeLibrary, PYTHONPATH: paths.pythonHook })
  const code = [
    'import os, threading, time',
    'def storm():',
    '    fd = os.open("/dev/zero", os.O_RDONLY)',
    '    for _ in range(5000): os.read(fd, 1)',
    't = threading.Thread(target=storm, name="storm"); t.start(); t.join()',
    'time.sleep(60)'
  ].join('\n')
  const child = run(STOCK_PYTHON, ['-c', code], env)
  const pid = child.child.pid!
  // The totals go out every 10 ms tick: once the storm has ended, the next tick carries all of it.
  await waitFor('its storm to be counted', async () => (acquisitionsByThread(await metricsOf(pid)).get('storm') ?? 0) >= 5000, 20_000)
  child.child.kill('SIGKILL')
  const ended = await child
  assert.equal(ended.signal, 'SIGKILL')
  await finished(server, pid)
  const counted = acquisitionsByThread(await metricsOf(pid)).get('storm') ?? 0
  assert.ok(counted >= 5000 && counted <= 5000 + SLACK, `storm counted ${counted}`)
})

test('the server restarted mid-run: counts continue from the true totals, threads that ended meanwhile included by name', async () => {
  const dir = server.dir
  const socket = path.join(dir, 'restart.sock')
  const flag = (n: number) => path.join(dir, `go-${n}`)
  const code = [
    'import os, sys, threading, time',
    'def storm():',
    '    fd = os.open("/dev/zero", os.O_RDONLY)',
    '    for _ in range(3000): os.read(fd, 1)',
    '    os.close(fd)',
    'def phase(name):',
    '    t = threading.Thread(target=storm, name=name); t.start(); t.join()',
    '    print(name, flush=True)',
    'def wait_for(path):',
    '    while not os.path.exists(path): time.sleep(0.01)',
    `phase("before"); wait_for(${JSON.stringify(flag(1))})`,
    `phase("during"); wait_for(${JSON.stringify(flag(2))})`,
    'phase("after")'
  ].join('\n')
  let first: TestServer | undefined = await startTestServer({ socket })
  let second: TestServer | undefined
  try {
    const env = monitoredEnv(socket, { LD_PRELOAD: paths.probeLibrary, PYTHONPATH: paths.pythonHook })
    const child = run(STOCK_PYTHON, ['-c', code], env)
    const pid = child.child.pid!
    const countedBy = async (s: TestServer) => {
      const text = await (await fetch(`${s.httpUrl}/metrics`)).text()
      return acquisitionsByThread(parseExposition(text).filter((x) => x.labels.pid === String(pid)))
    }
    await waitFor('"before" counted by the first server', async () => ((await countedBy(first!)).get('before') ?? 0) >= 3000, 20_000)
    await first.close()
    first = undefined
    fs.writeFileSync(flag(1), '') // "during" runs with no server at all
    await waitFor('"during" to end', () => fs.existsSync(flag(1)) && child.child.exitCode === null)
    await new Promise((resolve) => setTimeout(resolve, 500))
    second = await startTestServer({ socket })
    const s2 = second
    await waitFor('the process to reconnect', async () => (await s2.processes()).find((p) => p.pid === pid && p.state === 'connected'), 20_000)
    fs.writeFileSync(flag(2), '')
    const ended = await child
    assert.equal(ended.code, 0, ended.stderr)
    assert.match(ended.stdout, /before\nduring\nafter\n/)
    await finished(s2, pid)
    const counted = await countedBy(second)
    const total = [...counted].filter(([name]) => name !== 'MainThread').reduce((n, [, v]) => n + v, 0)
    // "before" and "during" ended before the second server saw them: their totals stay
    // their own in the process's region until it needs the room, so they are restated by name.
    for (const name of ['before', 'during', 'after']) {
      const n = counted.get(name) ?? 0
      assert.ok(n >= 3000 && n <= 3000 + SLACK, `${name}: ${n} (${[...counted]})`)
    }
    assert.ok(total >= 9000 && total <= 9000 + 3 * SLACK, `total of the storm threads ${total}: ${[...counted]}`)
  } finally {
    await first?.close()
    await second?.close()
  }
})

test('a slow server: ranges are dropped, long holds are not, and the counts stay exact', async () => {
  // A proxy that stops reading for 2 s makes the process's send buffer (256 KiB, the
  // smallest) overflow while a thread alternates bursts of reads with 30 ms holds
  // (PyDLL's usleep keeps the GIL).
  const proxyPath = path.join(server.dir, 'slow.sock')
  const proxy = net.createServer((client) => {
    const upstream = net.connect(server.socket)
    setTimeout(() => client.pipe(upstream), 2000) // until then nothing reads: the socket fills
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
  })
  await new Promise<void>((resolve) => proxy.listen(proxyPath, resolve))
  try {
    const env = monitoredEnv(proxyPath, {
      LD_PRELOAD: paths.probeLibrary, PYTHONPATH: paths.pythonHook, GILWATCH_SEND_BUFFER_KB: '256'
    })
    const code = [
      'import ctypes, os, threading',
      'libc = ctypes.PyDLL(None)',
      'def burst_then_hold():',
      '    fd = os.open("/dev/zero", os.O_RDONLY)',
      '    for _ in range(5):',
      '        for _ in range(20000): os.read(fd, 1)',
      '        libc.usleep(30000)',
      't = threading.Thread(target=burst_then_hold, name="bursty"); t.start(); t.join()',
      'import time; time.sleep(3)  # outlive the stall: what waits in the send buffer goes out',
      'print("pid", os.getpid(), flush=True)'
    ].join('\n')
    const result = await run(STOCK_PYTHON, ['-c', code], env, 60_000)
    assert.equal(result.code, 0, result.stderr)
    const snapshot = await finished(server, Number(/pid (\d+)/.exec(result.stdout)![1]))
    assert.ok(snapshot.droppedEvents > 1000, `the slow server made the process drop ranges: ${snapshot.droppedEvents}`)
    const bursty = snapshot.threads.find((t) => t.name === 'bursty')!
    assert.ok(bursty.ranges.find((r) => r.message === 'Holding GIL')!.count < 100_000, 'ranges were dropped')
    const { holds } = await server.get(`/api/processes/${snapshot.instance}/long-holds?thresholdMs=29`)
    const long = (holds as Array<{ tid: number, durationNs: number }>).filter((h) => h.tid === bursty.tid)
    assert.equal(long.length, 5, `long holds kept: ${long.map((h) => (h.durationNs / 1e6).toFixed(1))}`)
    const counted = acquisitionsByThread(await metricsOf(snapshot.pid)).get('bursty') ?? 0
    assert.ok(counted >= 100_000 && counted <= 100_000 + SLACK, `bursty counted ${counted}`)
  } finally {
    proxy.close()
  }
})

test('contended time is the exact union of every wait; waiters and the hold in progress are seen at any age', async () => {
  // Nothing dropped (a large buffer) and every range kept by the server, so the union of the
  // wait ranges is the ground truth.
  const own = await startTestServer({ recentPerThread: 200_000 })
  try {
    const env = monitoredEnv(own.socket, { LD_PRELOAD: paths.probeLibrary, PYTHONPATH: paths.pythonHook, GILWATCH_BUFFER_EVENTS: '1048576' })
    const metricsOfOwn = async (pid: number) => parseExposition(await (await fetch(`${own.httpUrl}/metrics`)).text()).filter((s) => s.labels.pid === String(pid))
    // Two Python spinners, an I/O thread and a 200 ms holder: waits every switch interval.
    const result = await run(STOCK_PYTHON, [script('ground_truth.py')], env, 120_000)
    assert.equal(result.code, 0, result.stderr)
    const pid = Number(/pid (\d+)/.exec(result.stdout)![1])
    const snapshot = await finished(own, pid)
    assert.equal(snapshot.droppedEvents, 0)
    const waits = (await own.ranges(snapshot.instance)).filter((r) => r.message === 'Waiting for GIL').sort((a, b) => a.startNs - b.startNs)
    let union = 0
    let cursor = 0
    for (const w of waits) {
      if (w.endNs <= cursor) continue
      union += w.endNs - Math.max(w.startNs, cursor)
      cursor = w.endNs
    }
    const contended = (await metricsOfOwn(pid)).filter((s) => s.name === 'python_gil_contended_seconds_total').reduce((n, s) => n + s.value, 0)
    assert.ok(waits.length > 20, `${waits.length} waits`)
    assert.ok(Math.abs(contended * 1e9 - union) <= 1e-6 * union + 1000, `contended ${contended} s, union of ${waits.length} waits ${union / 1e9} s`)

    // A 1.5 s hold (PyDLL's usleep keeps the GIL) with three threads that want it. The
    // program prints the time from before its 50 ms sleep (the GIL is free then) to the end
    // of usleep: a bound on the hold's age read by its own clock, however late usleep wakes.
    const code = [
      'import ctypes, os, threading, time',
      'libc = ctypes.PyDLL(None)',
      'done = False',
      'def spin():',
      '    x = 0',
      '    while not done: x += 1',
      'ts = [threading.Thread(target=spin) for _ in range(3)]',
      'for t in ts: t.start()',
      'began = time.monotonic_ns()',
      'time.sleep(0.05)',
      'libc.usleep(1500000)',
      'ended = time.monotonic_ns()',
      'done = True',
      'for t in ts: t.join()',
      'print(ended - began)'
    ].join('\n')
    const child = run(STOCK_PYTHON, ['-c', code], env, 60_000)
    const seen = await waitFor('three waiters behind a hold of a second or more', async () => {
      const samples = await metricsOfOwn(child.child.pid!)
      const waiters = samples.filter((s) => s.name === 'python_gil_waiters').reduce((n, s) => n + s.value, 0)
      const hold = Math.max(0, ...samples.filter((s) => s.name === 'python_gil_current_hold_seconds').map((s) => s.value))
      return waiters === 3 && hold >= 1 ? { waiters, hold } : undefined
    }, 20_000)
    const ended = await child
    assert.equal(ended.code, 0, ended.stderr)
    const boundNs = Number(ended.stdout.trim())
    assert.ok(seen.hold * 1e9 <= boundNs, `current hold ${seen.hold} s, in a hold of at most ${boundNs / 1e9} s`)
    console.log(`# current hold seen at ${seen.hold} s of a hold of at most ${boundNs / 1e9} s`)
  } finally {
    await own.close()
  }
})
