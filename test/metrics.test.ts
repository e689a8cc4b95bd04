// /metrics: values that agree with the fixture's ground truth, bounded thread labels, and
// output that promtool accepts.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import path from 'node:path'
import { test } from 'node:test'
import { buildFixture, monitoredEnv, parseExposition, readTruth, run, startTestServer, waitFor, type Sample } from './helpers'

test('metrics agree with the ground truth; threads beyond the label limit fold into "other"', async () => {
  const server = await startTestServer({ maxThreadLabels: 3 })
  try {
    const truthFile = path.join(server.dir, 'truth')
    const result = await run(buildFixture('gil_fixture.c'), ['--truth', truthFile, '--threads', '5', '--iterations', '300',
      '--second-copy', buildFixture('second_copy.c', { shared: true })], monitoredEnv(server.socket))
    assert.equal(result.code, 0, result.stderr)
    const pid = String(/parent (\d+)/.exec(result.stdout)![1])
    await waitFor('the process to finish', async () => (await server.processes()).find((p) => String(p.pid) === pid && p.state !== 'connected'))
    const text = await (await fetch(`${server.httpUrl}/metrics`)).text()
    const samples = parseExposition(text).filter((s) => s.labels.pid === pid)
    const truth = readTruth(truthFile)
    const holds = truth.filter((r) => r.message === 'Holding GIL')
    const waits = truth.filter((r) => r.message === 'Waiting for GIL')
    const of = (name: string) => samples.filter((s) => s.name === name)
    const sum = (list: Sample[]) => list.reduce((n, s) => n + s.value, 0)

    // Labels: 3 threads by name, the other 2 folded.
    const threads = new Set(of('python_gil_hold_seconds_total').map((s) => s.labels.thread))
    assert.equal(threads.size, 4)
    assert.ok(threads.has('other'))

    // Totals match the ground truth (to the µs bounds the capture test establishes).
    const truthHeld = holds.reduce((n, r) => n + (r.endNs - r.startNs), 0) / 1e9
    assert.ok(Math.abs(sum(of('python_gil_hold_seconds_total')) - truthHeld) < holds.length * 5e-6,
      `held ${sum(of('python_gil_hold_seconds_total'))} s vs ${truthHeld} s`)
    const acquisitions = of('python_gil_acquisitions_total')
    assert.equal(sum(acquisitions), holds.length)
    assert.equal(sum(acquisitions.filter((s) => s.labels.contended === 'true')), waits.length)
    const holdCount = of('python_gil_hold_duration_seconds_count')
    assert.deepEqual(holdCount.map((s) => [s.labels.interp, s.value]), [['0', holds.length]])
    const inf = of('python_gil_hold_duration_seconds_bucket').find((s) => s.labels.le === '+Inf')!
    assert.equal(inf.value, holds.length)
    // Buckets are cumulative and include the documented edges.
    const les = of('python_gil_hold_duration_seconds_bucket').map((s) => s.labels.le)
    for (const edge of ['0.001', '0.005', '0.01', '0.05', '0.1', '0.2', '0.5', '1', '0.000001', '10']) assert.ok(les.includes(edge), `bucket ${edge}`)
    const cumulative = of('python_gil_hold_duration_seconds_bucket').map((s) => s.value)
    assert.deepEqual(cumulative, [...cumulative].sort((a, b) => a - b))
    // The window max is the longest hold the store saw (and close to the fixture's own clock).
    const process = (await server.processes()).find((p) => String(p.pid) === pid)!
    const storeLongest = Math.max(...process.threads.map((t) => t.ranges.find((r) => r.message === 'Holding GIL')?.maxNs ?? 0)) / 1e9
    const metricLongest = Math.max(...of('python_gil_hold_max_seconds').map((s) => s.value))
    assert.ok(Math.abs(metricLongest - storeLongest) < 1e-9, `${metricLongest} vs ${storeLongest}`)
    const truthLongest = Math.max(...holds.map((r) => r.endNs - r.startNs)) / 1e9
    assert.ok(Math.abs(metricLongest - truthLongest) < 1e-3, `${metricLongest} vs ${truthLongest}`)

    // Non-GIL ranges: the second NVTX copy's ranges in the default domain.
    const secondCopy = samples.find((s) => s.name === 'nvtx_range_duration_seconds_count' && s.labels.message === 'second copy')!
    assert.equal(secondCopy.labels.domain, 'default')
    assert.equal(secondCopy.value, truth.filter((r) => r.message === 'second copy').length)
    assert.equal(of('gilwatch_events_dropped_total')[0].value, 0)

    // Ranges received counts every range and mark of every process.
    const all = parseExposition(text)
    assert.equal(all.find((s) => s.name === 'gilwatch_ranges_received_total')!.value, server.store.counters().rangesReceived)

    // promtool (from the Debian prometheus package) accepts the exposition.
    execFileSync('promtool', ['check', 'metrics'], { input: text })
  } finally {
    await server.close()
  }
})

test('the shipped alert and recording rules pass promtool check and their unit tests', () => {
  const dir = path.join(__dirname, '..', '..', 'deploy', 'prometheus')
  const check = execFileSync('promtool', ['check', 'rules', path.join(dir, 'gilwatch.rules.yml')], { encoding: 'utf8' })
  assert.match(check, /SUCCESS: 7 rules found/)
  const unit = execFileSync('promtool', ['test', 'rules', path.join(dir, 'gilwatch.rules.test.yml')], { encoding: 'utf8' })
  assert.match(unit, /SUCCESS/)
  // Every alert has at least one unit test.
  const rules = require('node:fs').readFileSync(path.join(dir, 'gilwatch.rules.yml'), 'utf8') as string
  const tests = require('node:fs').readFileSync(path.join(dir, 'gilwatch.rules.test.yml'), 'utf8') as string
  for (const [, alert] of rules.matchAll(/- alert: (\w+)/g)) assert.match(tests, new RegExp(`alertname: ${alert}\\b`), alert)
})

test('the Grafana dashboard is importable JSON with a datasource variable', () => {
  const file = path.join(__dirname, '..', '..', 'deploy', 'grafana', 'gilwatch-dashboard.json')
  const dashboard = JSON.parse(require('node:fs').readFileSync(file, 'utf8'))
  const variables = dashboard.templating.list.map((v: any) => v.name)
  assert.deepEqual(variables, ['datasource', 'service', 'pid'])
  const exprs = dashboard.panels.flatMap((p: any) => p.targets.map((t: any) => t.expr as string))
  for (const name of ['python_gil_hold_seconds_total', 'python_gil_wait_seconds_total', 'python_gil_hold_duration_seconds_bucket',
    'python_gil_wait_duration_seconds_bucket', 'python_gil_hold_max_seconds', 'python_gil_waiters', 'gilwatch_events_dropped_total']) {
    assert.ok(exprs.some((e: string) => e.includes(name)), `a panel uses ${name}`)
  }
  for (const panel of dashboard.panels) assert.equal(panel.datasource.uid, '${datasource}', panel.title)
})
