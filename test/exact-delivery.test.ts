// Counts that no stall, restart, kill or crash can change: a monitored process keeps its GIL
// totals in its shared totals region (docs/protocol.md), which the server reads once the
// process is gone, so a stalled or restarted server delays the numbers and never loses them,
// and a process killed or crashed is exact to its last completed hold. Workloads count their
// own GIL releases; the servers run as their own processes, to be stopped and killed.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { paths } from '../server/config'
import { buildPython, patchedVersions } from '../server/cli/python-build'
import { formatSummary } from '../server/cli/summary'
import type { ProcessSnapshot } from '../server/shared/views'
import {
  STOCK_PYTHON, monitoredEnv, parseExposition, run, script, startServeProcess, startTestServer, tempDir, waitFor,
  type ServeProcess, type TestServer
} from './helpers'

const SLACK = 100 // holds a storm thread makes besides its reads (its start, a barrier, its end)
let dir: string
before(() => { dir = tempDir() })
after(() => { fs.rmSync(dir, { recursive: true, force: true }) })

type Server = Pick<ServeProcess, 'url' | 'socket'>
const processes = async (server: Server) => (await (await fetch(`${server.url}/api/processes`)).json() as { processes: ProcessSnapshot[] }).processes

// The process's totals once the server holds its final ones.
async function finalOf (server: Server, pid: number): Promise<ProcessSnapshot> {
  return waitFor(`process ${pid}'s final totals`, async () => (await processes(server)).find((p) => p.pid === pid && p.totals === 'final'), 30_000)
}

async function acquisitions (server: Server, pid: number): Promise<Map<string, number>> {
  const counted = new Map<string, number>()
  const text = await (await fetch(`${server.url}/metrics`)).text()
  for (const s of parseExposition(text)) {
    if (s.name === 'python_gil_acquisitions_total' && s.labels.pid === String(pid)) counted.set(s.labels.thread, (counted.get(s.labels.thread) ?? 0) + s.value)
  }
  return counted
}

function assertWithin (counted: Map<string, number>, truth: Map<string, number>, what: string): void {
  assert.ok(truth.size > 0, `${what}: threads`)
  for (const [name, n] of truth) {
    const c = counted.get(name) ?? 0
    assert.ok(c >= n && c <= n + SLACK, `${what}: ${name} did ${n}, the server counts ${c} (${[...counted]})`)
  }
}

const probeEnv = (socket: string) => monitoredEnv(socket, { LD_PRELOAD: paths.probeLibrary, PYTHONPATH: paths.pythonHook })
const storyOf = (stdout: string) => new Map([...stdout.matchAll(/^thread (\S+) \d+ (\d+)$/gm)].map((m) => [m[1], Number(m[2])]))

test('a server stopped (SIGSTOP) for 3 s across the program\'s exit: every thread exact once it resumes', async () => {
  const server = await startServeProcess()
  try {
    const storm = run(STOCK_PYTHON, [script('counted_storm.py'), '4', '300000'], probeEnv(server.socket), 120_000)
    await new Promise((resolve) => setTimeout(resolve, 250))
    server.signal('SIGSTOP')
    const stoppedAt = Date.now()
    assert.equal(storm.child.exitCode, null, 'the program was still running when the server stopped')
    const ended = await storm
    const endedAfterMs = Date.now() - stoppedAt
    assert.equal(ended.code, 0, ended.stderr)
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 3000 - (Date.now() - stoppedAt))))
    server.signal('SIGCONT')
    const pid = Number(/pid (\d+)/.exec(ended.stdout)![1])
    await finalOf(server, pid)
    assertWithin(await acquisitions(server, pid), storyOf(ended.stdout), 'stalled server')
    console.log(`# stalled server: the program ended ${(endedAfterMs / 1000).toFixed(2)} s into the server's 3 s stop; every thread exact`)
  } finally {
    server.signal('SIGCONT')
    await server.stop()
  }
})

test('the server killed mid-run and started again after the program ended: the new one reads what it left', async () => {
  const shared = tempDir()
  let server = await startServeProcess([], { dir: shared })
  try {
    const storm = run(STOCK_PYTHON, [script('counted_storm.py'), '4', '300000'], probeEnv(server.socket), 120_000)
    await new Promise((resolve) => setTimeout(resolve, 250))
    assert.equal(storm.child.exitCode, null, 'the program was still running when the server died')
    server.signal('SIGKILL')
    await server.stop()
    const ended = await storm
    assert.equal(ended.code, 0, ended.stderr)
    const pid = Number(/pid (\d+)/.exec(ended.stdout)![1])
    server = await startServeProcess([], { dir: shared })
    const adopted = await finalOf(server, pid)
    assert.equal(adopted.state, 'disconnected')
    assertWithin(await acquisitions(server, pid), storyOf(ended.stdout), 'restarted server')
    assert.equal(fs.readdirSync(shared).filter((f) => f.endsWith('.gwtotals')).length, 0, 'the region was removed once read')
  } finally {
    await server.stop()
    fs.rmSync(shared, { recursive: true, force: true })
  }
})

// What each thread of mapped_storm.py recorded itself, from its mapping.
function recorded (file: string, threads: number): Map<string, number> {
  const counts = fs.readFileSync(file)
  return new Map(Array.from({ length: threads }, (_, i) => [`storm-${i}`, Number(counts.readBigUInt64LE(8 * i))]))
}

describe('a process that dies without exit handlers is exact to its last completed hold', () => {
  let server: TestServer
  before(async () => { server = await startTestServer() })
  after(async () => { await server.close() })
  const interpreters = async () => [
    { what: 'probe', python: STOCK_PYTHON, env: probeEnv(server.socket) },
    { what: 'patch', python: (await buildPython({ minor: patchedVersions()[0], log: () => {} })).python, env: monitoredEnv(server.socket, { PYTHONPATH: paths.pythonHook }) }
  ]
  const target = () => ({ url: server.httpUrl!, socket: server.socket })

  test('SIGKILL in the middle of a storm: every thread within 100 of the count it kept itself', async () => {
    for (const { what, python, env } of await interpreters()) {
      const counts = path.join(dir, `killed-${what}`)
      const storm = run(python, [script('mapped_storm.py'), counts, '4'], env, 120_000)
      await waitFor('the storm to run a while', () => fs.existsSync(counts) && [...recorded(counts, 4).values()].every((n) => n > 20_000), 60_000)
      storm.child.kill('SIGKILL')
      const ended = await storm
      assert.equal(ended.signal, 'SIGKILL')
      const truth = recorded(counts, 4)
      const pid = storm.child.pid!
      await finalOf(target(), pid)
      assertWithin(await acquisitions(target(), pid), truth, `${what}, SIGKILL`)
      console.log(`# ${what}, SIGKILL: threads did ${[...truth.values()].join(', ')}; counted ${[...(await acquisitions(target(), pid)).values()].join(', ')}`)
    }
  })

  test('a crash (SIGSEGV through ctypes): every thread exact', async () => {
    for (const { what, python, env } of await interpreters()) {
      const counts = path.join(dir, `crashed-${what}`)
      const storm = run(python, [script('mapped_storm.py'), counts, '4', 'crash', '20000'], env, 120_000)
      const ended = await storm
      assert.equal(ended.signal, 'SIGSEGV', ended.stderr)
      const truth = recorded(counts, 4)
      assert.deepEqual([...truth.values()], [20_000, 20_000, 20_000, 20_000])
      const pid = storm.child.pid!
      await finalOf(target(), pid)
      assertWithin(await acquisitions(target(), pid), truth, `${what}, SIGSEGV`)
    }
  })
})

test('over TCP, a connection cut before the final totals is marked incomplete everywhere', async () => {
  const token = 'tcp-exact-token-0123456789abcdef'
  const server = await startTestServer({ tcp: { host: '127.0.0.1', port: 0 }, ingestToken: token })
  try {
    const tcp = server.ingest.find((a) => a.kind === 'tcp')!.address
    const env = monitoredEnv(tcp, { LD_PRELOAD: paths.probeLibrary, PYTHONPATH: paths.pythonHook, GILWATCH_TOKEN: token })
    // A normal exit sends its final totals: exact and final.
    const clean = await run(STOCK_PYTHON, [script('counted_storm.py'), '2', '5000'], env, 60_000)
    assert.equal(clean.code, 0, clean.stderr)
    const cleanPid = Number(/pid (\d+)/.exec(clean.stdout)![1])
    const target = { url: server.httpUrl!, socket: server.socket }
    await finalOf(target, cleanPid)
    assertWithin(await acquisitions(target, cleanPid), storyOf(clean.stdout), 'TCP, normal exit')
    // SIGKILL: no region over TCP, so what the last tick did not carry is lost, and says so.
    const counts = path.join(dir, 'tcp-killed')
    const storm = run(STOCK_PYTHON, [script('mapped_storm.py'), counts, '2'], env, 60_000)
    await waitFor('the storm to run', () => fs.existsSync(counts) && [...recorded(counts, 2).values()].every((n) => n > 5000), 60_000)
    storm.child.kill('SIGKILL')
    await storm
    const pid = storm.child.pid!
    const p = await waitFor('the killed process to be incomplete', async () =>
      (await processes(target)).find((x) => x.pid === pid && x.totals === 'incomplete'), 20_000)
    assert.equal(p.state, 'disconnected')
    const text = await (await fetch(`${server.httpUrl}/metrics`)).text()
    assert.match(text, new RegExp(`^gilwatch_process_totals_incomplete\\{service="[^"]*",pid="${pid}"\\} 1$`, 'm'))
    assert.doesNotMatch(text, new RegExp(`^gilwatch_process_totals_incomplete\\{service="[^"]*",pid="${cleanPid}"\\}`, 'm'))
    const summary = server.store.summary(p.instance)!
    assert.equal(summary.totals, 'incomplete')
    assert.match(formatSummary({ processes: [summary] }), /its GIL totals are incomplete: the connection ended before the last of them arrived/)
  } finally {
    await server.close()
  }
})

test('children that fork and exec leave no totals file; the program\'s own is removed once read', async () => {
  const server = await startTestServer()
  try {
    const code = [
      'import os, subprocess, threading',
      'def storm():',
      '    fd = os.open("/dev/zero", os.O_RDONLY)',
      '    for _ in range(2000): os.read(fd, 1)',
      't = threading.Thread(target=storm); t.start()',
      'for _ in range(10): subprocess.run(["true"], check=True)',
      'for _ in range(10):',
      '    pid = os.fork()',
      '    if pid == 0: os.execv("/bin/true", ["true"])',
      '    os.waitpid(pid, 0)',
      't.join()'
    ].join('\n')
    const program = run(STOCK_PYTHON, ['-c', code], probeEnv(server.socket), 60_000)
    const result = await program
    assert.equal(result.code, 0, result.stderr)
    const pid = program.child.pid!
    await finalOf({ url: server.httpUrl!, socket: server.socket }, pid)
    const left = fs.readdirSync(path.dirname(server.socket)).filter((f) => f.endsWith('.gwtotals'))
    assert.deepEqual(left, [], 'no totals file left in the socket directory')
  } finally {
    await server.close()
  }
})
