// /metrics: values that agree with the fixture's ground truth, bounded thread labels, and
// output that promtool accepts.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import path from 'node:path'
import { test } from 'node:test'
import net from 'node:net'
import { StringKind, encodeHello, encodeHoldCause, encodeStatus, encodeString, encodeThread } from '../server/protocol'
import { buildFixture, monitoredEnv, parseExposition, readTruth, run, startTestServer, waitFor, type Sample, type TruthRange } from './helpers'

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

    // Totals lie between the fixture's inner and outer clock readings of its ranges (exact on
    // any load: a preemption next to a push or pop widens only the outer bound).
    const total = (list: TruthRange[], inner: boolean) =>
      list.reduce((n, r) => n + (inner ? r.innerEndNs - r.innerStartNs : r.endNs - r.startNs), 0) / 1e9
    const held = sum(of('python_gil_hold_seconds_total'))
    assert.ok(held >= total(holds, true) - 1e-6 && held <= total(holds, false) + 1e-6,
      `held ${held} s, the fixture measured between ${total(holds, true)} and ${total(holds, false)} s`)
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
    const longest = (inner: boolean) => Math.max(...holds.map((r) => inner ? r.innerEndNs - r.innerStartNs : r.endNs - r.startNs)) / 1e9
    assert.ok(metricLongest >= longest(true) - 1e-9 && metricLongest <= longest(false) + 1e-9,
      `longest hold ${metricLongest} s, the fixture measured between ${longest(true)} and ${longest(false)} s`)

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

test('long-hold time by code site: the first 20 sites of a GIL by name, the rest "other"', async () => {
  const server = await startTestServer()
  const socket = net.connect(server.socket)
  try {
    await new Promise((resolve) => socket.once('connect', resolve))
    const pid = 7316
    // 25 sites (module site<k>, function f<k>), site k holding k+1 times 10 ms, then 2 holds without Python frames.
    const frames = [encodeHello({ pid, instance: 7316n, monotonicNs: 1_000_000_000n, realtimeNs: 1_700_000_000_000_000_000n, service: 'sites' }),
      encodeString(StringKind.DOMAIN, 1, 'GIL NVTX Domain'), encodeString(StringKind.MESSAGE, 2, 'Holding GIL'),
      encodeString(StringKind.MESSAGE, 3, 'Waiting for GIL'), encodeThread(1, 7317, 'worker')]
    let start = 2_000_000_000n
    const hold = (site: number | null) => {
      start += 100_000_000n
      const ids = site === null ? [] : [{ function: 100 + 2 * site, file: 101 + 2 * site, line: 3 }]
      frames.push(encodeHoldCause({
        thread: 1,
        final: true,
        startNs: start,
        sampledFromNs: start,
        sampledToNs: start + 10_000_000n,
        onCpuNs: 2_000_000n,
        runqueueNs: 3_000_000n,
        blockedNs: 5_000_000n,
        samples: 1,
        frames: ids
      }))
    }
    for (let k = 0; k < 25; k++) {
      frames.push(encodeString(StringKind.MESSAGE, 100 + 2 * k, k === 0 ? 'Store.flush' : `f${k}`))
      frames.push(encodeString(StringKind.MESSAGE, 101 + 2 * k, k === 0 ? '/app/store/__init__.py' : `/app/site${k}.py`))
      for (let n = 0; n <= k; n++) hold(k)
    }
    hold(null)
    hold(null)
    frames.push(encodeStatus(10_000_000_000n))
    socket.write(Buffer.concat(frames))
    await waitFor('the causes', () => server.store.list().some((p) => p.pid === pid))
    const samples = await waitFor('the site series', async () => {
      const all = parseExposition(await (await fetch(`${server.httpUrl}/metrics`)).text()).filter((s) => s.labels.pid === String(pid))
      return all.some((s) => s.labels.site === 'other' && s.value > 0) ? all : undefined
    })
    const longHold = samples.filter((s) => s.name === 'python_gil_long_hold_seconds_total')
    const bySite = new Map<string, number>()
    for (const s of longHold) bySite.set(s.labels.site, (bySite.get(s.labels.site) ?? 0) + s.value)
    // Sites 0-19 by name; sites 20-24 and the holds without frames (site "unknown", the 26th) are "other".
    assert.equal(bySite.size, 21, [...bySite.keys()].join(' '))
    assert.ok(Math.abs(bySite.get('store:Store.flush')! - 0.01) < 1e-9, `the package's __init__.py is named by its directory: ${bySite.get('store:Store.flush')}`)
    for (let k = 1; k < 20; k++) assert.ok(Math.abs(bySite.get(`site${k}:f${k}`)! - 0.01 * (k + 1)) < 1e-9, `site${k}: ${bySite.get(`site${k}:f${k}`)}`)
    const otherHolds = [20, 21, 22, 23, 24].reduce((n, k) => n + k + 1, 0) + 2 // sites 20-24 and the 2 without frames
    assert.ok(Math.abs(bySite.get('other')! - 0.01 * otherHolds) < 1e-9, `other: ${bySite.get('other')}`)
    const blocked = longHold.filter((s) => s.labels.site === 'site5:f5' && s.labels.cause === 'blocked')
    assert.deepEqual(blocked.map((s) => s.value), [0.03])
    // The series budget counts them as rendered: 3 causes x 21 sites.
    assert.equal(longHold.length, 63)
  } finally {
    socket.destroy()
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
  // eslint-disable-next-line no-template-curly-in-string -- Grafana's variable, not a template
  for (const panel of dashboard.panels) assert.equal(panel.datasource.uid, '${datasource}', panel.title)
})
