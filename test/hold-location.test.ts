// Where was the holder? The Python frames the sampler reads from the interpreter's memory
// (native/injection/python_frames.c) for holds at known lines of test/fixtures/python/
// hold_location.py: on every stock CPython here through the probe and on the patched
// builds; deep recursion, generator and coroutine frames, threads that exit right after
// their hold, a sub-interpreter; and CPython's test_threading with every hold over 1 ms sampled.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { paths } from '../server/config'
import { buildPython, patchedVersions } from '../server/cli/python-build'
import type { HoldCause, LongHold } from '../server/shared/views'
import { fixturesDir, monitoredEnv, run, sidRoot, startTestServer, stockPythons, waitFor, type TestServer } from './helpers'

const fixture = path.join(fixturesDir, 'python', 'hold_location.py')
const source = fs.readFileSync(fixture, 'utf8').split('\n')
const lineOf = (marker: string) => {
  const index = source.findIndex((l) => l.trimEnd().endsWith(`# hold:${marker}`))
  assert.ok(index >= 0, marker)
  return index + 1
}

let server: TestServer
before(async () => { server = await startTestServer() })
after(async () => { await server.close() })

const probeEnv = (extra: NodeJS.ProcessEnv = {}) => monitoredEnv(server.socket, {
  LD_PRELOAD: paths.probeLibrary, PYTHONPATH: paths.pythonHook, PYTHONDONTWRITEBYTECODE: '1', ...extra
})

async function holds (python: string, which: string, env: NodeJS.ProcessEnv): Promise<Array<LongHold & { cause: HoldCause }>> {
  const result = await run(python, [fixture, which], env)
  assert.equal(result.code, 0, result.stderr)
  const pid = Number(/pid (\d+)/.exec(result.stdout)![1])
  const process = await waitFor('the process', async () => (await server.processes()).find((p) => p.pid === pid && p.state !== 'connected'))
  const { holds } = await server.get(`/api/processes/${process.instance}/long-holds?thresholdMs=25&limit=200`)
  const mine = (holds as LongHold[]).filter((h) => h.name === 'holder' && h.cause)
  assert.ok(mine.length, `a sampled long hold on "holder": ${JSON.stringify(holds.map((h: LongHold) => h.name))}`)
  return mine as Array<LongHold & { cause: HoldCause }>
}

const frame = (fn: string, marker: string) => ({ function: fn, file: fixture, line: lineOf(marker) })
const minorOf = (python: string) => /python(3\.\d+)$/.exec(python)![1]

async function interpreters (): Promise<Array<{ label: string, python: string, minor: string, env: () => NodeJS.ProcessEnv }>> {
  const patched = await Promise.all(patchedVersions().map(async (minor) => ({
    label: `patched ${minor}`,
    minor,
    python: (await buildPython({ minor, log: () => {} })).python,
    env: () => monitoredEnv(server.socket, { PYTHONPATH: paths.pythonHook })
  })))
  return [...stockPythons().map((python) => ({ label: `${python} (probe)`, python, minor: minorOf(python), env: () => probeEnv() })), ...patched]
}

test('the holder\'s Python location on every interpreter', async (t) => {
  for (const { label, python, minor, env } of await interpreters()) {
    await t.test(`${label}: usleep in hold_here(), called by caller(): both frames, exact lines`, async () => {
      const [hold] = await holds(python, 'plain', env())
      assert.deepEqual(hold.cause.frames.slice(0, 2), [frame('hold_here', 'plain'), frame('caller', 'caller')])
      // caller() runs from threading.py's Thread.run, _bootstrap_inner (wrapped by the
      // thread-names hook, python/gilwatch_hook) and _bootstrap.
      // Qualified names from 3.11 (co_qualname); 3.10's code objects have only co_name.
      const qualified = minor !== '3.10'
      assert.deepEqual(hold.cause.frames.slice(2).map((f) => `${path.basename(f.file)} ${f.function}`), qualified
        ? ['threading.py Thread.run', 'threading.py Thread._bootstrap_inner', 'gilwatch_threadnames.py install.<locals>._bootstrap_inner', 'threading.py Thread._bootstrap']
        : ['threading.py run', 'threading.py _bootstrap_inner', 'gilwatch_threadnames.py _bootstrap_inner', 'threading.py _bootstrap'])
      assert.ok(hold.cause.frames.every((f) => f.line > 0), JSON.stringify(hold.cause.frames))
      assert.equal(hold.cause.stackDepth, 6)
    })
  }
})

// One interpreter per way of finding frames: PyFrameObject (3.10), _PyCFrame (3.11, 3.12),
// _Py_DebugOffsets (3.13), tagged _PyStackRef (3.14).
const varied = stockPythons().filter((p) => ['3.10', '3.11', '3.13', '3.14'].includes(minorOf(p)) && !p.startsWith('/usr/bin'))

for (const python of varied) {
  describe(`${python}: hostile shapes`, () => {
    test('40-deep recursion: the innermost 8 frames, the depth counted', async () => {
      const [hold] = await holds(python, 'deep', probeEnv())
      assert.deepEqual(hold.cause.frames, [frame('recurse', 'deep'), ...Array(7).fill(frame('recurse', 'recursion'))])
      assert.equal(hold.cause.stackDepth, 41 + 4) // recurse x 41, then the 4 frames of a thread's start (above)
    })

    test('inside a generator: the generator frame, then the loop driving it', async () => {
      const [hold] = await holds(python, 'generator', probeEnv())
      assert.deepEqual(hold.cause.frames.slice(0, 2), [frame('gen_hold', 'generator'), frame('drive', 'driver')])
    })

    test('inside a coroutine under asyncio.run: the coroutine frame, then asyncio\'s', async () => {
      const [hold] = await holds(python, 'coroutine', probeEnv())
      assert.deepEqual(hold.cause.frames[0], frame('co_hold', 'coroutine'))
      assert.ok(hold.cause.frames.slice(1).some((f) => /asyncio[/\\]events\.py$/.test(f.file) && f.function.endsWith('_run')),
        JSON.stringify(hold.cause.frames))
    })

    test('40 threads that exit right after a 30 ms hold: frames read while they exit, right or absent', async () => {
      const found = await holds(python, 'exiting', probeEnv({ GILWATCH_LONG_HOLD_MS: '10' }))
      const withFrames = found.filter((h) => h.cause.frames.length)
      assert.ok(withFrames.length >= 20, `${withFrames.length} of ${found.length} sampled holds have frames`)
      for (const h of withFrames) assert.deepEqual(h.cause.frames[0], frame('short_hold', 'exiting'))
    })
  })
}

// A thread that runs a sub-interpreter can have a thread state in each interpreter: the
// frames are those of the interpreter whose GIL it holds. 3.13+: 3.12's isolated
// sub-interpreters cannot import ctypes (single-phase there).
for (const python of stockPythons().filter((p) => ['3.13', '3.14'].includes(minorOf(p)) && !p.startsWith('/usr/bin'))) {
  test(`${python}: a sub-interpreter with its own GIL: its frames, then the main interpreter's`, async () => {
    const found = await holds(python, 'subinterpreter', probeEnv())
    const inSub = found.find((h) => h.interp !== 0)
    const inMain = found.find((h) => h.interp === 0)
    assert.ok(inSub && inMain, `a hold on each GIL: ${JSON.stringify(found.map((h) => h.interp))}`)
    assert.deepEqual({ function: inSub.cause.frames[0]?.function, line: inSub.cause.frames[0]?.line }, { function: 'sub_hold', line: 4 },
      JSON.stringify(inSub.cause.frames))
    assert.deepEqual(inMain.cause.frames[0], frame('in_subinterpreter', 'aftersub'), JSON.stringify(inMain.cause.frames))
  })
}

// The frame reader on every hold over 1 ms of CPython's own thread tests: it must never
// crash or disturb the host.
for (const python of stockPythons().filter((p) => ['3.11', '3.14'].includes(minorOf(p)) && !p.startsWith('/usr/bin'))) {
  test(`${python}: test_threading passes with GILWATCH_LONG_HOLD_MS=1`, async () => {
    const inChroot = python.includes(`${path.sep}.cache${path.sep}sid${path.sep}`)
    const version = minorOf(python)
    const suites = [path.join(path.dirname(python), '..', 'lib', `python${version}`, 'test', 'test_threading.py'),
      `${inChroot ? sidRoot() : ''}/usr/lib/python${version}/test/test_threading.py`]
    assert.ok(suites.some((s) => fs.existsSync(s)), `no test suite installed for ${python}`)
    const failures = (out: string) => new Set([...out.matchAll(/^(?:FAIL|ERROR): (\w+)/gm)].map((m) => m[1]))
    const before = new Set((await server.processes()).map((p) => p.instance))
    const result = await run(python, ['-m', 'test', '-v', 'test_threading'], probeEnv({ GILWATCH_LONG_HOLD_MS: '1' }), 600_000)
    assert.ok(!/Fatal Python error|Segmentation fault/.test(result.stdout + result.stderr), result.stderr.slice(-2000))
    const failed = failures(result.stdout)
    if (result.code !== 0) {
      // Only what also fails without gilwatch on this machine (see probe.test.ts).
      const plain = { ...process.env, LD_PRELOAD: '', NVTX_INJECTION64_PATH: '' }
      const baseline = await run(python, ['-m', 'test', '-v', 'test_threading', ...[...failed].flatMap((n) => ['-m', n])], plain, 600_000)
      const alsoWithout = failures(baseline.stdout)
      assert.ok(failed.size > 0, result.stdout.slice(-3000))
      for (const name of failed) assert.ok(alsoWithout.has(name), `${name} fails only with frame sampling`)
    }
    // And it did sample: holds with frames from the test suite.
    const processes = (await server.processes()).filter((p) => !before.has(p.instance))
    let framed = 0
    for (const p of processes) {
      const { holds } = await server.get(`/api/processes/${p.instance}/long-holds?thresholdMs=1&limit=200`)
      framed += (holds as LongHold[]).filter((h) => h.cause?.frames.some((f) => f.file.endsWith('.py') && f.line > 0)).length
    }
    assert.ok(framed > 0, `holds with Python frames, in ${processes.length} processes`)
    console.log(`# ${python}: test_threading ${result.code === 0 ? 'passed' : `failed only as without gilwatch (${[...failed].join(', ')})`}; ` +
      `${processes.length} processes, ${framed} holds with frames`)
  })
}
