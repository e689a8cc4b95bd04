// The NVTX GIL patch on real CPython builds (3.11 and 3.13), seen through the injection
// library and the server: ground truth, GIL invariants, Python thread names, and CPython's
// own threading tests passing with monitoring on.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { paths } from '../server/config'
import { buildPython, patchedVersions } from '../server/cli/python-build'
import type { CompletedRange } from '../server/shared/views'
import { assertBlockerHold, finished, monitoredEnv, run, script, startTestServer, waitFor, type TestServer } from './helpers'

const pythonEnv = (server: TestServer, extra: NodeJS.ProcessEnv = {}) =>
  monitoredEnv(server.socket, { PYTHONPATH: paths.pythonHook, PYTHONDONTWRITEBYTECODE: '1', ...extra })

const isHold = (r: CompletedRange) => r.domain === 'GIL NVTX Domain' && r.message === 'Holding GIL'
const isWait = (r: CompletedRange) => r.domain === 'GIL NVTX Domain' && r.message === 'Waiting for GIL'

// GILWATCH_TEST_PYTHONS=3.11 narrows the run while developing; CI tests every patched version.
const selected = process.env.GILWATCH_TEST_PYTHONS?.split(',') ?? patchedVersions()

for (const minor of patchedVersions().filter((v) => selected.includes(v))) {
  describe(`patched CPython ${minor}`, () => {
    let python: string
    let server: TestServer

    before(async () => {
      python = (await buildPython({ minor, log: () => {} })).python
      server = await startTestServer({ recentPerThread: 262144 })
    })
    after(async () => { await server.close() })

    test('ground truth: one 200 ms hold on "blocker", and the others wait through it', async () => {
      const result = await run(python, [script('ground_truth.py')], pythonEnv(server))
      assert.equal(result.code, 0, result.stderr)
      const [, tid] = /blocker (\d+) (\d+) (\d+)/.exec(result.stdout)!.map(Number)
      const pid = Number(/pid (\d+)/.exec(result.stdout)![1])
      const process = await finished(server, pid)
      assert.equal(process.unmatchedPops, 0)
      assert.equal(process.droppedEvents, 0)

      // Python thread names, whole, from the thread-name hook.
      const names = process.threads.map((t) => t.name)
      for (const name of ['MainThread', 'blocker', 'spinner-with-a-name-longer-than-fifteen-bytes', 'spinner-2', 'io']) {
        assert.ok(names.includes(name), `thread "${name}" in ${JSON.stringify(names)}`)
      }
      const blocker = process.threads.find((t) => t.name === 'blocker')!
      assert.equal(blocker.tid, tid)

      const ranges = await server.ranges(process.instance)
      const longHolds = ranges.filter((r) => isHold(r) && r.tid === tid && r.durationNs >= 200e6)
      assert.equal(longHolds.length, 1, 'exactly one hold of 200 ms or more on blocker')
      const [hold] = longHolds
      assertBlockerHold(hold.durationNs, result.stdout)
      if (minor !== '3.11') assert.equal(hold.payload, 0, 'payload: the main interpreter id')

      // Every other running thread wanted the GIL during the hold and got it only after.
      for (const name of ['spinner-2', 'io']) {
        const thread = process.threads.find((t) => t.name === name)!
        const waits = ranges.filter((r) => isWait(r) && r.tid === thread.tid &&
          r.startNs < hold.endNs && r.endNs > hold.startNs)
        assert.ok(waits.length >= 1, `${name} waited during the hold`)
        assert.ok(waits.every((w) => w.endNs >= hold.endNs), `${name} got the GIL only after blocker released it`)
      }
    })

    test('the thread-name hook imports nothing at startup and follows renames', async () => {
      const code = [
        'import sys',
        'print(sorted(m for m in ("threading", "ctypes") if m in sys.modules))',
        'import threading, time',
        'def work():',
        '    time.sleep(0.05)',
        '    threading.current_thread().name = "renamed-while-running"',
        '    time.sleep(0.1)',
        't = threading.Thread(target=work, name="first-name")',
        't.start(); t.join()',
        'print(threading.get_native_id(), t.native_id)'
      ].join('\n')
      const result = await run(python, ['-c', code], pythonEnv(server))
      assert.equal(result.code, 0, result.stderr)
      const [imported, ids] = result.stdout.trim().split('\n')
      assert.equal(imported, '[]', 'neither threading nor ctypes is imported before the program does')
      const [mainTid, workerTid] = ids.split(' ').map(Number)
      const pid = (await waitFor('the process', async () =>
        (await server.processes()).find((p) => p.threads.some((t) => t.tid === workerTid) && p.state !== 'connected')))
      assert.equal(pid.threads.find((t) => t.tid === mainTid)?.name, 'MainThread')
      assert.equal(pid.threads.find((t) => t.tid === workerTid)?.name, 'renamed-while-running')
    })

    test('invariants over a contended run with daemon threads at exit and a fork child', async () => {
      const seconds = Number(process.env.GILWATCH_CONTENDED_SECONDS ?? 10)
      // A ring large enough that nothing is dropped: the invariants need every range.
      const env = pythonEnv(server, { GILWATCH_BUFFER_EVENTS: '262144' })
      const result = await run(python, [script('contended.py'), String(seconds)], env, 120_000)
      assert.equal(result.code, 0, result.stderr)
      const pid = Number(/pid (\d+)/.exec(result.stdout)![1])
      const childPid = Number(/child (\d+)/.exec(result.stdout)![1])
      const parent = await finished(server, pid)
      const child = await finished(server, childPid)
      assert.equal(child.ppid, pid)

      for (const p of [parent, child]) {
        assert.equal(p.unmatchedPops, 0, `pid ${p.pid}: no unbalanced pops`)
        assert.equal(p.droppedEvents, 0, `pid ${p.pid}: nothing dropped`)
        const ranges = await server.ranges(p.instance)
        const holds = ranges.filter(isHold).sort((a, b) => a.startNs - b.startNs)
        const kept = p.threads.reduce((n, t) => n + (t.ranges.find((r) => r.message === 'Holding GIL')?.count ?? 0), 0)
        assert.equal(holds.length, kept, 'every hold is available to check (none overwritten)')
        assert.ok(holds.length > 100, `pid ${p.pid}: ${holds.length} holds`)

        // No two holds of one GIL overlap.
        for (let i = 1; i < holds.length; i++) {
          assert.ok(holds[i].startNs >= holds[i - 1].endNs,
            `hold ${i} on tid ${holds[i].tid} starts ${holds[i - 1].endNs - holds[i].startNs} ns before the previous one ends`)
        }
        // Σ hold ≤ wall.
        const held = holds.reduce((sum, r) => sum + r.durationNs, 0)
        const wall = holds[holds.length - 1].endNs - holds[0].startNs
        assert.ok(held <= wall, `held ${held} ns within ${wall} ns`)

        // Each wait that ended while the process was alive is followed by a hold on its thread.
        for (const thread of p.threads) {
          const mine = ranges.filter((r) => r.tid === thread.tid && (isHold(r) || isWait(r))).sort((a, b) => a.startNs - b.startNs)
          mine.forEach((r, i) => {
            if (!isWait(r) || r.closedBy !== 'pop') return
            const next = mine[i + 1]
            const exitedWaiting = !next && thread.exited
            assert.ok(exitedWaiting || (next && isHold(next) && next.startNs >= r.endNs),
              `${thread.name}: wait at ${r.startNs} is followed by a hold`)
          })
        }
      }
      const daemons = parent.threads.filter((t) => t.name.startsWith('daemon-'))
      assert.equal(daemons.length, 2, 'daemon threads were seen')
    })

    test('os.fork() in a single-threaded program: no "multi-threaded" warning (3.12+), children report', async () => {
      const before = (await server.processes()).length
      const result = await run(python, ['-W', 'error::DeprecationWarning', script('fork_single_threaded.py')], pythonEnv(server))
      assert.equal(result.code, 0, result.stderr)
      assert.equal(result.stderr, '')
      const pids = [...result.stdout.matchAll(/child (\d+)/g)].map((m) => Number(m[1]))
      assert.equal(pids.length, 3)
      for (const pid of pids) await finished(server, pid)
      assert.ok((await server.processes()).length >= before + 4)
    })

    test('CPython\'s own threading tests pass on the patched build with monitoring on', async () => {
      const tests = ['test_threading', 'test_thread', 'test_fork1', 'test_subprocess']
      // test_pass_fds_redirected asserts that a child Python holds exactly the descriptors it
      // was given: it passes because the sender keeps its socket in a descriptor table of its
      // own (native/injection/transport.c), never among the program's.
      const ignored: string[] = []
      const before = (await server.processes()).length
      // -w: a test that fails is re-run once, verbosely. Some of test_subprocess's cases time
      // themselves and can fail on a loaded 2-core machine with or without monitoring; a
      // failure that monitoring causes fails the re-run too, and every re-run is logged.
      const result = await run(python, ['-m', 'test', '-j2', '-w', ...tests, ...ignored.flatMap((t) => ['--ignore', t])], pythonEnv(server), 900_000)
      const failedFirst = result.stdout.split('\n').filter((line) => / failed \(/.test(line)).map((line) => line.replace(/^.*\] /, ''))
      if (/Re-running/.test(result.stdout)) console.log(`# re-run after a first failure: ${failedFirst.join('; ')}`)
      assert.equal(result.code, 0, `${tests.join(' ')} failed:\n${result.stdout.slice(-6000)}`)
      assert.match(result.stdout, /result: SUCCESS/i)
      const processes = await server.processes()
      assert.ok(processes.length > before + 2, 'the test processes reported to the server')
      assert.equal(processes.slice(before).reduce((n, p) => n + p.unmatchedPops, 0), 0)
    })
  })
}
