// The LD_PRELOAD probe on unmodified interpreters: agreement with the NVTX GIL patch on
// the same runs, the 200 ms ground truth on every stock CPython here (pyenv's 3.10-3.13,
// Debian's 3.11, Debian sid's 3.14 and 3.15 in a chroot), CPython's own test_threading under
// the probe, a free-threaded 3.13t, and a non-Python program that must not notice it.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { paths } from '../server/config'
import { buildPython, patchedVersions } from '../server/cli/python-build'
import type { CompletedRange } from '../server/shared/views'
import {
  assertBlockerHold, buildFixture, finished, groupBy, median, monitoredEnv, pyenvPython, run, script, sidPythons, sidRoot, startTestServer,
  stockPythons as stockPythonList, type TestServer
} from './helpers'

const PROBE_DOMAIN = 'GIL NVTX Domain (probe)'

const stockPythons = stockPythonList()

test('CPython 3.14 and 3.15 are among the interpreters tested', () => {
  // As root the pretest builds the sid chroot; without it this suite would silently shrink.
  if (process.getuid?.() !== 0) return
  assert.deepEqual(Object.keys(sidPythons()).sort(), ['3.14', '3.15'])
})

let server: TestServer
before(async () => { server = await startTestServer({ recentPerThread: 200_000 }) })
after(async () => { await server.close() })

const probeEnv = (extra: NodeJS.ProcessEnv = {}) => monitoredEnv(server.socket, {
  LD_PRELOAD: paths.probeLibrary, PYTHONPATH: paths.pythonHook, PYTHONDONTWRITEBYTECODE: '1', ...extra
})

function assertNoOverlap (holds: CompletedRange[], what: string) {
  const sorted = [...holds].sort((a, b) => a.startNs - b.startNs)
  for (let i = 1; i < sorted.length; i++) {
    assert.ok(sorted[i].startNs >= sorted[i - 1].endNs, `${what}: hold ${i} overlaps the previous one`)
  }
}

for (const minor of patchedVersions()) {
  test(`agreement with the patch on CPython ${minor}: same holds and waits per thread, same times`, async () => {
    const python = (await buildPython({ minor, log: () => {} })).python
    // Both report at once: the patch in its domain, the probe in its own.
    const env = probeEnv({ GILWATCH_PROBE_DOMAIN: PROBE_DOMAIN, GILWATCH_BUFFER_EVENTS: '262144' })
    const result = await run(python, [script('contended.py'), '4'], env, 120_000)
    assert.equal(result.code, 0, result.stderr)
    const pids = [/pid (\d+)/, /child (\d+)/].map((re) => Number(re.exec(result.stdout)![1]))
    const table: string[] = []
    for (const pid of pids) {
      const process = await finished(server, pid)
      assert.equal(process.droppedEvents, 0, 'nothing dropped, so counts can be compared')
      assert.equal(process.unmatchedPops, 0)
      const ranges = (await server.ranges(process.instance)).filter((r) => r.kind === 'range')
      const groups = groupBy(ranges, (r) => `${r.tid}|${r.domain}|${r.message}`)
      const startDiffs: number[] = []
      const endDiffs: number[] = []
      for (const thread of process.threads) {
        for (const message of ['Holding GIL', 'Waiting for GIL']) {
          const patch = (groups.get(`${thread.tid}|GIL NVTX Domain|${message}`) ?? []).sort((a, b) => a.startNs - b.startNs)
          const probe = (groups.get(`${thread.tid}|${PROBE_DOMAIN}|${message}`) ?? []).sort((a, b) => a.startNs - b.startNs)
          assert.equal(probe.length, patch.length, `${thread.name} (${thread.tid}): "${message}" count`)
          patch.forEach((p, i) => {
            startDiffs.push(probe[i].startNs - p.startNs)
            if (p.closedBy === 'pop' && probe[i].closedBy === 'pop') endDiffs.push(probe[i].endNs - p.endNs)
          })
        }
      }
      assert.ok(startDiffs.length > 200, `${startDiffs.length} ranges compared`)
      const medianStart = median(startDiffs)
      const medianEnd = median(endDiffs)
      assert.ok(Math.abs(medianStart) < 1000, `median start difference ${medianStart} ns`)
      assert.ok(Math.abs(medianEnd) < 1000, `median end difference ${medianEnd} ns`)
      assertNoOverlap(ranges.filter((r) => r.domain === PROBE_DOMAIN && r.message === 'Holding GIL'), `pid ${pid}`)
      table.push(`pid ${pid}: ${startDiffs.length} ranges, median start ${medianStart} ns, end ${medianEnd} ns`)
    }
    console.log(`# probe vs patch, CPython ${minor}: ${table.join('; ')}`)
  })
}

describe('stock interpreters under the probe', () => {
  for (const python of stockPythons) {
    test(`${python}: one 200 ms hold on "blocker", no overlapping holds`, async () => {
      const result = await run(python, [script('ground_truth.py')], probeEnv())
      assert.equal(result.code, 0, result.stderr)
      assert.equal(result.stderr, '')
      const [, tid] = /blocker (\d+)/.exec(result.stdout)!.map(Number)
      const process = await finished(server, Number(/pid (\d+)/.exec(result.stdout)![1]))
      const ranges = await server.ranges(process.instance)
      const holds = ranges.filter((r) => r.domain === 'GIL NVTX Domain' && r.message === 'Holding GIL')
      const long = holds.filter((r) => r.tid === tid && r.durationNs >= 200e6)
      assert.equal(long.length, 1)
      assertBlockerHold(long[0].durationNs, result.stdout, python)
      assert.ok(process.threads.some((t) => t.name === 'blocker'), 'Python thread names')
      assertNoOverlap(holds, python)
      assert.equal(process.unmatchedPops, 0)
    })

    const version = /python(3\.\d+)$/.exec(python)![1]
    if (Number(version.split('.')[1]) >= 12) {
      test(`${python}: a sub-interpreter that imports threading behaves as without gilwatch`, async () => {
        const result = await run(python, [script('subinterpreter.py')], probeEnv(), 60_000)
        assert.equal(result.code, 0, result.stderr)
        const [ok, pid] = result.stdout.trim().split('\n')
        assert.equal(ok, 'ok')
        assert.equal(result.stderr, '')
        // Its own GIL reports under its interpreter id (the payload); the main GIL under 0.
        const process = await finished(server, Number(pid))
        const holds = (await server.ranges(process.instance)).filter((r) => r.message === 'Holding GIL')
        const payloads = new Set(holds.map((r) => r.payload))
        assert.ok(payloads.has(0), 'holds of the main GIL')
        assert.ok([...payloads].some((p) => typeof p === 'number' && p >= 1), `holds of the sub-interpreter's GIL: ${[...payloads]}`)
        // Holds of one GIL never overlap (a wrong interpreter id would merge two GILs).
        for (const [payload, ofOneGil] of groupBy(holds, (r) => String(r.payload))) assertNoOverlap(ofOneGil, `GIL of interpreter ${payload}`)
      })
    }
    test(`${python}: daemon threads alive at exit end every range they had open`, async () => {
      const result = await run(python, [script('daemon_exit.py')], probeEnv())
      assert.equal(result.code, 0, result.stderr)
      const process = await finished(server, Number(/pid (\d+)/.exec(result.stdout)![1]))
      const daemons = process.threads.filter((t) => t.name.startsWith('daemon-'))
      assert.equal(daemons.length, 3, `threads: ${process.threads.map((t) => t.name)}`)
      for (const thread of process.threads) assert.deepEqual(thread.open, [], `${thread.name} has open ranges`)
      const holds = (await server.ranges(process.instance)).filter((r) => r.message === 'Holding GIL')
      assert.ok(daemons.every((d) => holds.some((h) => h.tid === d.tid)), 'every daemon thread held the GIL')
      assertNoOverlap(holds, python)
      assert.equal(process.unmatchedPops, 0)
    })

    const inChroot = python.includes(`${path.sep}.cache${path.sep}sid${path.sep}`)
    const testsuite = path.join(path.dirname(python), '..', 'lib', `python${version}`, 'test', 'test_threading.py')
    const debianTestsuite = `${inChroot ? sidRoot() : ''}/usr/lib/python${version}/test/test_threading.py`
    test(`${python}: test_threading passes under the probe`, async () => {
      // Debian ships the suite in libpython3.X-testsuite, which `npm test` installs as root.
      assert.ok(fs.existsSync(testsuite) || fs.existsSync(debianTestsuite), `no test suite installed for ${python}`)
      const failures = (out: string) => new Set([...out.matchAll(/^(?:FAIL|ERROR): (\w+)/gm)].map((m) => m[1]))
      const result = await run(python, ['-m', 'test', '-v', 'test_threading'], probeEnv(), 600_000)
      const failed = failures(result.stdout)
      if (result.code === 0) return assert.equal(failed.size, 0)
      assert.ok(failed.size > 0, result.stdout.slice(-3000))
      // Anything that fails under the probe must fail the same way without it on this
      // machine (e.g. a site-packages .pth that imports threading at startup).
      const plain = { ...process.env, LD_PRELOAD: '', NVTX_INJECTION64_PATH: '' }
      const baseline = await run(python, ['-m', 'test', '-v', 'test_threading', ...[...failed].flatMap((n) => ['-m', n])], plain, 600_000)
      const alsoWithout = failures(baseline.stdout)
      for (const name of failed) assert.ok(alsoWithout.has(name), `${name} fails only under the probe`)
      console.log(`# ${python}: ${[...failed].join(', ')} fail with and without the probe on this machine`)
    })
  }
})

// The probe hands its transitions to gilwatch's injection directly (native/protocol/
// gil_direct.h); with any other NVTX tool it speaks NVTX. The NVTX path, forced: the same
// ground truth, the same thread names.
test('through NVTX instead of the direct calls: one 200 ms hold on "blocker", no overlapping holds', async () => {
  const result = await run(stockPythons[0], [script('ground_truth.py')], probeEnv({ GILWATCH_PROBE_VIA_NVTX: '1' }))
  assert.equal(result.code, 0, result.stderr)
  const [, tid] = /blocker (\d+)/.exec(result.stdout)!.map(Number)
  const process = await finished(server, Number(/pid (\d+)/.exec(result.stdout)![1]))
  const holds = (await server.ranges(process.instance)).filter((r) => r.domain === 'GIL NVTX Domain' && r.message === 'Holding GIL')
  const long = holds.filter((r) => r.tid === tid && r.durationNs >= 200e6)
  assert.equal(long.length, 1)
  assertBlockerHold(long[0].durationNs, result.stdout, 'via NVTX')
  assertNoOverlap(holds, 'via NVTX')
  assert.equal(process.unmatchedPops, 0)
})

test('an unsupported CPython gets one warning line and runs normally', async () => {
  const old = ['3.9', '3.8', '3.7'].map(pyenvPython).find(Boolean)
  assert.ok(old, 'a CPython older than 3.10 (pyenv) to try')
  const result = await run(old!, ['-c', 'import threading; t = threading.Thread(target=print, args=("ran",)); t.start(); t.join()'], probeEnv())
  assert.equal(result.code, 0)
  assert.equal(result.stdout.trim(), 'ran')
  assert.match(result.stderr, /^gilwatch probe: CPython 3\.\d+\.\d+ is not supported \(3\.10 to 3\.15\); its GIL is not monitored\n$/)
})

test('host safety: a program hammering mutexes and condition variables works the same under the probe', async () => {
  const hammer = buildFixture('mutex_hammer.c')
  for (const env of [{ ...process.env }, probeEnv()]) {
    const result = await run(hammer, ['8', '100000'], env)
    assert.equal(result.code, 0, result.stdout)
    assert.match(result.stdout, /^items 400000 counter 400000 /)
  }
})

test('gilwatch env --python picks the probe for a stock interpreter and not for a patched one', async () => {
  const cli = path.join(__dirname, '..', '..', 'bin', 'gilwatch.js')
  const patched = (await buildPython({ minor: patchedVersions()[0], log: () => {} })).python
  const stock = stockPythons[0]
  const withProbe = await run(process.execPath, [cli, 'env', '--python', stock], process.env)
  assert.match(withProbe.stdout, /^export LD_PRELOAD=.*libgilwatch-probe\.so/m)
  const without = await run(process.execPath, [cli, 'env', '--python', patched], process.env)
  assert.doesNotMatch(without.stdout, /LD_PRELOAD/)
  assert.match(without.stderr, /has the NVTX GIL patch/)
})

describe('free-threaded CPython 3.13t (a stock --disable-gil build)', () => {
  const cli = path.join(__dirname, '..', '..', 'bin', 'gilwatch.js')
  let python: string
  before(async () => { python = (await buildPython({ minor: '3.13', disableGil: true, stock: true, log: () => {} })).python })
  const show = 'import os, sys; print(os.environ.get("LD_PRELOAD"), os.environ.get("NVTX_INJECTION64_PATH"), sys._is_gil_enabled())'

  test('gilwatch run: GIL disabled, one line, and the program runs untouched', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env }
    delete env.PYTHON_GIL
    const result = await run(process.execPath, [cli, 'run', '--', python, '-c', show], env)
    assert.equal(result.code, 0, result.stderr)
    assert.equal(result.stderr, 'gilwatch: free-threaded build, GIL disabled: nothing to monitor; PYTHON_GIL=1 enables it\n')
    assert.equal(result.stdout, 'None None False\n')
    const said = await run(process.execPath, [cli, 'env', '--python', python], env)
    assert.match(said.stderr, /: free-threaded build, GIL disabled: nothing to monitor; PYTHON_GIL=1 enables it\n$/)
  })

  test('with PYTHON_GIL=1: monitored through the probe, the 200 ms ground truth exact', async () => {
    const said = await run(process.execPath, [cli, 'env', '--python', python], { ...process.env, PYTHON_GIL: '1' })
    assert.match(said.stderr, /CPython 3\.13\.\d+ \(free-threaded build\) is stock: the probe/)
    const result = await run(python, [script('ground_truth.py')], probeEnv({ PYTHON_GIL: '1' }))
    assert.equal(result.code, 0, result.stderr)
    assert.equal(result.stderr, '')
    const [, tid] = /blocker (\d+)/.exec(result.stdout)!.map(Number)
    const monitored = await finished(server, Number(/pid (\d+)/.exec(result.stdout)![1]))
    const holds = (await server.ranges(monitored.instance)).filter((r) => r.message === 'Holding GIL')
    const long = holds.filter((r) => r.tid === tid && r.durationNs >= 200e6)
    assert.equal(long.length, 1)
    assertBlockerHold(long[0].durationNs, result.stdout, python)
    assert.ok(monitored.threads.some((t) => t.name === 'blocker'), 'Python thread names')
    assertNoOverlap(holds, python)
  })
})

test('gilwatch env --python names the version of sid\'s 3.14 and 3.15 and picks the probe', async () => {
  const cli = path.join(__dirname, '..', '..', 'bin', 'gilwatch.js')
  for (const [minor, python] of Object.entries(sidPythons())) {
    const said = await run(process.execPath, [cli, 'env', '--python', python], process.env)
    assert.equal(said.code, 0, said.stderr)
    assert.match(said.stderr, new RegExp(`CPython ${minor.replace('.', '\\.')}\\.\\d+ is stock: the probe`))
    assert.match(said.stdout, /^export LD_PRELOAD=.*libgilwatch-probe\.so/m)
  }
})

test('the program never sees a descriptor of ours: test_pass_fds and test_close_fds 40 times under the probe', async () => {
  // Each case starts monitored child Pythons that list their own descriptors while our
  // sender connects and reads /proc: any transient fd of ours would show among theirs.
  const python = stockPythons.find((p) => /3\.13/.test(p)) ?? stockPythons[0]
  const loop = [
    'import sys, unittest',
    'from test import test_subprocess as t',
    'names = [n for n in unittest.TestLoader().getTestCaseNames(t.POSIXProcessTestCase)',
    '         if n.startswith(("test_pass_fds", "test_close_fds"))]',
    'failures = 0',
    'for i in range(40):',
    '    suite = unittest.TestSuite(t.POSIXProcessTestCase(n) for n in names)',
    '    result = unittest.TextTestRunner(stream=sys.stderr, verbosity=0).run(suite)',
    '    failures += len(result.failures) + len(result.errors)',
    'print(len(names), failures)'
  ].join('\n')
  const result = await run(python, ['-c', loop], probeEnv(), 600_000)
  assert.equal(result.code, 0, result.stderr.slice(-3000))
  const [cases, failures] = result.stdout.trim().split(' ').map(Number)
  assert.ok(cases >= 5, `${cases} test cases`)
  assert.equal(failures, 0, result.stderr.slice(-3000))
})

test('exit with daemon threads running never crashes the host: 10 runs each on CPython 3.11, 3.12, 3.13 under the probe', async () => {
  // Our exit flush waits for the server after Python is finalized; daemon threads that wake
  // then would read a freed interpreter, so the probe parks them once exit() has begun.
  // Not 3.10: stock 3.10 itself crashes on this program's exit (about 1 run in 70, inside
  // Py_FinalizeEx, before any exit handler of ours runs), so no run count proves anything there.
  const pythons = ['3.11', '3.12', '3.13'].map((minor) => {
    const python = stockPythons.find((p) => p.endsWith(`python${minor}`))
    assert.ok(python, `pyenv CPython ${minor}`)
    return python!
  })
  for (let i = 0; i < 30; i++) {
    const python = pythons[i % pythons.length]
    const result = await run(python, [script('daemon_exit.py')], probeEnv())
    assert.equal(result.signal, null, `run ${i} (${python}): killed by ${result.signal}`)
    assert.equal(result.code, 0, `run ${i} (${python}): ${result.stderr}`)
  }
})
