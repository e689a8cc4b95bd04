// The LD_PRELOAD probe on unmodified interpreters: agreement with the NVTX GIL patch on
// the same runs, the 200 ms ground truth on every stock CPython here, CPython's own
// test_threading under the probe, and a non-Python program that must not notice it.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { paths } from '../server/config'
import { buildPython, patchedVersions } from '../server/python-build'
import type { CompletedRange, ProcessSnapshot } from '../server/store'
import { buildFixture, fixturesDir, groupBy, median, monitoredEnv, run, startTestServer, waitFor, type TestServer } from './helpers'

const PROBE_DOMAIN = 'GIL NVTX Domain (probe)'
const script = (name: string) => path.join(fixturesDir, 'python', name)

// Stock interpreters on this machine: pyenv's 3.10-3.13 and Debian's.
const stockPythons = [
  ...['3.10', '3.11', '3.12', '3.13'].flatMap((minor) => {
    const root = '/root/.pyenv/versions'
    const version = fs.existsSync(root) ? fs.readdirSync(root).find((v) => v.startsWith(`${minor}.`)) : undefined
    return version ? [path.join(root, version, 'bin', `python${minor}`)] : []
  }),
  ...(fs.existsSync('/usr/bin/python3.11') ? ['/usr/bin/python3.11'] : [])
]

let server: TestServer
before(async () => { server = await startTestServer({ recentPerThread: 200_000 }) })
after(async () => { await server.close() })

const probeEnv = (extra: NodeJS.ProcessEnv = {}) => monitoredEnv(server.socket, {
  LD_PRELOAD: paths.probeLibrary, PYTHONPATH: paths.pythonHook, PYTHONDONTWRITEBYTECODE: '1', ...extra
})

async function finished (pid: number): Promise<ProcessSnapshot> {
  return waitFor(`process ${pid} to disconnect`, async () =>
    (await server.processes()).find((p) => p.pid === pid && p.state !== 'connected'), 20_000)
}

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
      const process = await finished(pid)
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
      const process = await finished(Number(/pid (\d+)/.exec(result.stdout)![1]))
      const ranges = await server.ranges(process.instance)
      const holds = ranges.filter((r) => r.domain === 'GIL NVTX Domain' && r.message === 'Holding GIL')
      const long = holds.filter((r) => r.tid === tid && r.durationNs >= 200e6)
      assert.equal(long.length, 1)
      assert.ok(long[0].durationNs < 205e6, `${long[0].durationNs / 1e6} ms`)
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
        const process = await finished(Number(pid))
        const payloads = new Set((await server.ranges(process.instance))
          .filter((r) => r.message === 'Holding GIL').map((r) => r.payload))
        assert.ok(payloads.has(0), 'holds of the main GIL')
        assert.ok([...payloads].some((p) => typeof p === 'number' && p >= 1), `holds of the sub-interpreter's GIL: ${[...payloads]}`)
      })
    }
    const testsuite = path.join(path.dirname(python), '..', 'lib', `python${version}`, 'test', 'test_threading.py')
    const debianTestsuite = `/usr/lib/python${version}/test/test_threading.py`
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

test('an unsupported CPython gets one warning line and runs normally', async () => {
  const old = ['3.9', '3.8', '3.7'].map((minor) => {
    const root = '/root/.pyenv/versions'
    const version = fs.existsSync(root) ? fs.readdirSync(root).find((v) => v.startsWith(`${minor}.`)) : undefined
    return version ? path.join(root, version, 'bin', `python${minor}`) : undefined
  }).find(Boolean)
  assert.ok(old, 'a CPython older than 3.10 (pyenv) to try')
  const result = await run(old!, ['-c', 'import threading; t = threading.Thread(target=print, args=("ran",)); t.start(); t.join()'], probeEnv())
  assert.equal(result.code, 0)
  assert.equal(result.stdout.trim(), 'ran')
  assert.match(result.stderr, /^gilwatch probe: CPython 3\.\d+\.\d+ is not supported \(3\.10 to 3\.13\); its GIL is not monitored\n$/)
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
