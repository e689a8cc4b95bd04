// `gilwatch run`, recordings, `report`, `export --perfetto`, `demo`, and every error path
// with the message that says how to fix it.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { before, test } from 'node:test'
import { buildPython } from '../server/cli/python-build'
import type { RunSummary } from '../server/cli/summary'
import { assertBlockerHold, fixturesDir, repoRoot, run, tempDir, waitFor } from './helpers'

const gilwatch = path.join(repoRoot, 'bin', 'gilwatch.js')
const groundTruth = path.join(fixturesDir, 'python', 'ground_truth.py')
let python: string
let dir: string

before(async () => {
  python = (await buildPython({ minor: '3.11', log: () => {} })).python
  dir = tempDir()
})

// Each run gets a private socket: it starts its own server there.
const env = (extra: NodeJS.ProcessEnv = {}) => ({ ...process.env, GILWATCH_ADDR: path.join(dir, `s${Math.random().toString(36).slice(2)}.sock`), ...extra })
const gw = (args: string[], extra: NodeJS.ProcessEnv = {}) => run(process.execPath, [gilwatch, ...args], env(extra), 120_000)

test('exit codes and output pass through; the summary goes to stderr', async () => {
  const failed = await gw(['run', '--http', '127.0.0.1:0', '--', 'sh', '-c', 'echo out; echo err >&2; exit 7'])
  assert.equal(failed.code, 7)
  assert.equal(failed.stdout, 'out\n')
  const lines = failed.stderr.split('\n')
  assert.ok(lines.includes('err'), 'the program\'s stderr passes through')
  assert.ok(lines.some((l) => /^gilwatch: dashboard: http:\/\/127\.0\.0\.1:\d+\/\?pid=\d+$/.test(l)))
  assert.ok(lines.some((l) => /^gilwatch: no GIL ranges arrived from the program/.test(l)), 'sh has no GIL: the summary says so')

  const child = spawn(process.execPath, [gilwatch, 'run', '--quiet', '--http', '127.0.0.1:0', '--', python, '-c',
    'import sys; print(sys.stdin.read().upper(), end="")'], { env: env(), stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  child.stdout.on('data', (d) => { stdout += d })
  child.stdin.end('hello from stdin\n')
  const code = await new Promise((resolve) => child.once('exit', resolve))
  assert.equal(code, 0)
  assert.equal(stdout, 'HELLO FROM STDIN\n')
})

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} reaches the program, and gilwatch ends the way it did`, async () => {
    const child = spawn(process.execPath, [gilwatch, 'run', '--quiet', '--http', '127.0.0.1:0', '--', python, '-c',
      'import time; print("ready", flush=True); time.sleep(60)'], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] })
    await new Promise<void>((resolve) => child.stdout.on('data', (d) => { if (String(d).includes('ready')) resolve() }))
    child.kill(signal) // to gilwatch only, as a supervisor would
    const [code, received] = await new Promise<[number | null, string | null]>((resolve) => child.once('exit', (c, s) => resolve([c, s])))
    assert.equal(received, signal, `exit code ${code}`)
  })
}

test('the 200 ms ground truth: "blocker" in the summary; record, report and export agree', async () => {
  const recording = path.join(dir, 'ground-truth.gwrec')
  const summaryFile = path.join(dir, 'summary.json')
  const result = await gw(['run', '--http', '127.0.0.1:0', '--record', recording, '--json', '--summary', summaryFile, '--', python, groundTruth])
  assert.equal(result.code, 0, result.stderr)
  const live = JSON.parse(fs.readFileSync(summaryFile, 'utf8')) as RunSummary
  assert.equal(live.processes.length, 1)
  const [process] = live.processes
  assert.equal(process.service, 'ground_truth.py')
  const blocker = process.threads.find((t) => t.name === 'blocker')!
  assertBlockerHold(blocker.longestHoldNs, result.stdout, 'summary: longest hold')
  assert.equal(process.longestHolds[0].name, 'blocker')

  // The table says the same.
  const table = await gw(['report', recording])
  assert.equal(table.code, 0, table.stderr)
  assert.match(table.stdout, /ground_truth\.py \(pid \d+\) ran/)
  assert.match(table.stdout, /^\s+blocker\s+.*\s20\d\.\d ms\s/m)

  // Replaying the recording rebuilds exactly the live numbers.
  const replay = await gw(['report', recording, '--json'])
  assert.equal(replay.code, 0, replay.stderr)
  assert.deepEqual(JSON.parse(replay.stdout), live)

  const trace = path.join(dir, 'trace.json')
  const exported = await gw(['export', recording, '--perfetto', trace])
  assert.equal(exported.code, 0, exported.stderr)
  const events = JSON.parse(fs.readFileSync(trace, 'utf8')).traceEvents as any[]
  const names = new Map(events.filter((e) => e.name === 'thread_name').map((e) => [e.tid, e.args.name]))
  const blockerTid = [...names].find(([, name]) => name === 'blocker')![0]
  assert.ok(names.has(blockerTid + 10_000_000), 'a second track for other NVTX ranges')
  const holds = events.filter((e) => e.ph === 'X' && e.name === 'Holding GIL' && e.tid === blockerTid)
  const longest = Math.max(...holds.map((e) => e.dur))
  assertBlockerHold(longest * 1000, result.stdout, 'trace: longest hold')
  // Every completed hold is in the trace; so is a hold still open when the process ended
  // (closed at its disconnect), which no acquisition count includes: at most one per thread.
  const traced = events.filter((e) => e.ph === 'X' && e.name === 'Holding GIL').length
  const acquisitions = process.threads.reduce((n, t) => n + t.acquisitions, 0)
  assert.ok(traced >= acquisitions && traced <= acquisitions + process.threads.length,
    `${traced} holds in the trace, ${acquisitions} acquisitions`)
})

test('gilwatch demo: a live process with a 250 ms GIL-holding call', async () => {
  const child = spawn(process.execPath, [gilwatch, 'demo', '--seconds', '8', '--http', '127.0.0.1:0', '--python', python],
    { env: env(), stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => { stderr += d })
  const url = await waitFor('the dashboard URL', () => /open (http:\/\/[\d.:]+)\//.exec(stderr)?.[1], 20_000)
  const hold = await waitFor('a 250 ms hold by legacy-c-call', async () => {
    const { processes } = await (await fetch(`${url}/api/processes`)).json() as any
    for (const p of processes) {
      const thread = p.threads.find((t: any) => t.name === 'legacy-c-call')
      const holds = thread?.ranges.find((r: any) => r.message === 'Holding GIL')
      if (holds && holds.maxNs >= 250e6) return { service: p.service, maxNs: holds.maxNs, page: await (await fetch(`${url}/`)).text() }
    }
    return undefined
  }, 20_000)
  assert.equal(hold.service, 'gil-demo')
  assert.match(hold.page, /<title>gilwatch<\/title>/)
  const code = await new Promise((resolve) => child.once('exit', resolve))
  assert.equal(code, 0, stderr)
})

const errors: Array<[string, string[], RegExp, NodeJS.ProcessEnv?]> = [
  ['an unknown flag', ['run', '--bogus', '--', 'true'], /unknown option --bogus\. Run `gilwatch help run`/],
  ['no command', ['run', '--json'], /no command to run: gilwatch run \[options\] -- CMD ARGS/],
  ['a missing command', ['run', '--', 'no-such-command-here'], /no-such-command-here: command not found/],
  ['an unreachable server', ['run', '--', 'true'], /nothing listens at GILWATCH_ADDR=tcp:\/\/127\.0\.0\.1:1: start `gilwatch serve --tcp \.\.\.` there, or unset GILWATCH_ADDR/, { GILWATCH_ADDR: 'tcp://127.0.0.1:1' }],
  ['a file that is not a recording', ['report', '/etc/hostname'], /\/etc\/hostname is not a gilwatch recording \(make one with `gilwatch run --record FILE`/],
  ['a missing recording', ['report', '/no/such/file'], /cannot open \/no\/such\/file: no such file/],
  ['export without a destination', ['export', '/etc/hostname'], /say where to write: gilwatch export FILE --perfetto OUT\.json/],
  ['a missing interpreter for the demo', ['demo', '--python', '/no/such/python'], /\/no\/such\/python not found: install Python 3\.10-3\.15 or pass --python PATH/],
  ['record without a file', ['record', '--tcp', '127.0.0.1:0'], /gilwatch record needs a recording FILE first/]
]
for (const [what, args, message, extra] of errors) {
  test(`a clear error for ${what}`, async () => {
    const result = await gw(args, extra)
    assert.equal(result.code, 2, result.stderr)
    assert.match(result.stderr, message)
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr)
  })
}

test('--help of every command shows usage with examples', async () => {
  for (const command of ['run', 'demo', 'serve', 'env', 'record', 'report', 'view', 'export', 'python']) {
    const result = await gw([command, '--help'])
    assert.equal(result.code, 0)
    assert.match(result.stdout, new RegExp(`^Usage: gilwatch ${command}`))
  }
  const top = await gw(['--help'])
  assert.match(top.stdout, /Examples:\n {2}gilwatch run -- python3 my_service\.py/)
})
