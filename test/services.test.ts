// A service restarted during a soak is one history: its runs (processes with the same
// GILWATCH_SERVICE, started by the same user) in /api/services, and their series stitched in
// /api/services/:id/series, each run's numbers equal to its own totals, after its process
// retired too (a retired process keeps its coarser tiers); its worst holds across its runs in
// /api/services/:id/worst-holds, each run's kept as long as it is among the service's 100.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { paths } from '../server/config'
import { SeriesColumn, type ServiceEntry, type ServiceWorstHold } from '../server/shared/views'
import { launchBrowser, monitoredEnv, parseExposition, run, script, startTestServer, STOCK_PYTHON, waitFor, type TestServer } from './helpers'

let server: TestServer
before(async () => { server = await startTestServer({ retireAfterMs: 300 }) })
after(async () => { await server.close() })

async function steady (service: string): Promise<{ pid: number, acquisitions: number }> {
  const result = await run(STOCK_PYTHON, [script('steady_holds.py'), '1.5'],
    monitoredEnv(server.socket, { LD_PRELOAD: paths.probeLibrary, PYTHONPATH: paths.pythonHook, GILWATCH_SERVICE: service }), 60_000)
  assert.equal(result.code, 0, result.stderr)
  const pid = Number(/pid (\d+)/.exec(result.stdout)![1])
  // Its own count, from /metrics, once it has ended.
  const acquisitions = await waitFor(`process ${pid} to end`, async () => {
    const p = (await server.processes()).find((x) => x.pid === pid)
    if (!p || p.state === 'connected') return undefined
    const samples = parseExposition(await (await fetch(`${server.httpUrl}/metrics`)).text())
    return samples.filter((s) => s.name === 'python_gil_acquisitions_total' && s.labels.pid === String(pid)).reduce((n, s) => n + s.value, 0)
  })
  return { pid, acquisitions }
}

test('a service restarted: one history, each run exact and marked by its start, kept once its processes retired', async () => {
  const first = await steady('soak-service')
  const other = await steady('another-service')
  const second = await steady('soak-service')
  const { services } = await (await fetch(`${server.httpUrl}/api/services`)).json() as { services: ServiceEntry[] }
  const soak = services.find((s) => s.service === 'soak-service')!
  assert.deepEqual(soak.runs.map((r) => r.pid), [first.pid, second.pid], 'two runs, oldest first')
  assert.deepEqual(services.find((s) => s.service === 'another-service')!.runs.map((r) => r.pid), [other.pid])
  assert.equal(services[0].service, 'soak-service', 'the service with the newest run first')

  // Wait until both runs retired: their history must outlive their ranges.
  await waitFor('the runs to retire', async () => (await server.processes()).filter((p) => [first.pid, second.pid].includes(p.pid) && p.state === 'retired').length === 2 || undefined)
  const answer = await (await fetch(`${server.httpUrl}/api/services/${soak.id}/series`)).json() as
    { runs: Array<{ pid: number, startMs: number, widthS: number, rows: number[] }>, columns: string[], runsOmitted: number }
  assert.equal(answer.runsOmitted, 0)
  assert.deepEqual(answer.runs.map((r) => r.pid), [first.pid, second.pid])
  assert.ok(answer.runs[1].startMs > answer.runs[0].startMs, 'the restart, marked by the second run\'s start')
  for (const [i, want] of [first, second].entries()) {
    const r = answer.runs[i]
    assert.equal(r.widthS, 60, 'a retired run keeps its minutes, not its seconds')
    const n = answer.columns.length
    let acquisitions = 0
    for (let k = 0; k < r.rows.length; k += n) acquisitions += r.rows[k + SeriesColumn.ACQUISITIONS] * r.rows[k + SeriesColumn.SPAN]
    assert.equal(Math.round(acquisitions), want.acquisitions, `run ${i + 1}: every acquisition once`)
  }
  assert.equal((await fetch(`${server.httpUrl}/api/services/0123456789abcdef/series`)).status, 404)

  // In the dashboard: the service in the picker, its charts across both runs, the restart marked.
  const rows = answer.runs.reduce((n, r) => n + r.rows.length / answer.columns.length, 0)
  const browser = await launchBrowser()
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    await page.goto(`${server.httpUrl}/`)
    await page.waitForSelector(`#process option[value="service:${soak.id}"]`, { state: 'attached', timeout: 15_000 })
    await page.selectOption('#process', `service:${soak.id}`)
    const restarts = await page.waitForFunction((n) => {
      const charts = (window as any).__gilwatch.charts
      return charts.points() === n ? charts.restarts : null
    }, rows, { timeout: 15_000 }).then((h) => h.jsonValue()) as number[]
    assert.deepEqual(restarts, [answer.runs[1].startMs / 1000])
    assert.equal(await page.evaluate(() => (window as any).__gilwatch.state.shown), soak.runs[1].instance, 'its newest run shown')
    // "Worst of the charts' range": the holds of both runs, each named with its run's pid.
    await page.check('#holds-worst')
    const pids = await page.waitForFunction(() => {
      const cells = [...document.querySelectorAll('#long-holds tr td:nth-child(2)')].map((td) => /\(pid (\d+)\)/.exec(td.textContent ?? '')?.[1])
      const seen = [...new Set(cells)]
      return seen.length === 2 ? seen.map(Number).sort() : null
    }, undefined, { timeout: 15_000 }).then((h) => h.jsonValue())
    assert.deepEqual(pids, [first.pid, second.pid].sort())
    assert.deepEqual(errors, [])
  } finally {
    await browser.close()
  }
})

test('a service\'s worst holds: the 100 longest of all its runs, kept after each run retired', async () => {
  const runOf = async (later: number, worstMs: number): Promise<number> => {
    const result = await run(STOCK_PYTHON, [script('worst_hold.py'), String(later), 'holder', String(worstMs)],
      monitoredEnv(server.socket, { LD_PRELOAD: paths.probeLibrary, PYTHONPATH: paths.pythonHook, GILWATCH_SERVICE: 'worst-service' }), 120_000)
    assert.equal(result.code, 0, result.stderr)
    return Number(/pid (\d+)/.exec(result.stdout)![1])
  }
  // The first run: its 300 ms hold and 150 of about 1.1 ms (it keeps 100); the second: a
  // 100 ms hold and 20 more.
  const first = await runOf(150, 300)
  const second = await runOf(20, 100)
  await waitFor('both runs to retire', async () => (await server.processes()).filter((p) => [first, second].includes(p.pid) && p.state === 'retired').length === 2 || undefined)
  const { services } = await (await fetch(`${server.httpUrl}/api/services`)).json() as { services: ServiceEntry[] }
  const service = services.find((s) => s.service === 'worst-service')!
  const { holds } = await (await fetch(`${server.httpUrl}/api/services/${service.id}/worst-holds`)).json() as { holds: ServiceWorstHold[] }
  assert.equal(holds.length, 100, 'the service\'s 100 longest')
  for (let i = 1; i < holds.length; i++) assert.ok(holds[i - 1].durationNs >= holds[i].durationNs, 'longest first')
  const worst = holds[0]
  assert.equal(worst.pid, first, 'the worst of the first run')
  assert.ok(worst.durationNs >= 300e6 && worst.durationNs < 400e6, `${worst.durationNs / 1e6} ms`)
  assert.ok(worst.waiters.some((w) => w.name === 'waiter'), 'with its waiter')
  assert.equal(holds[1].pid, second, 'then the second run\'s 100 ms hold')
  assert.equal(worst.hasTimeline, true, 'and its timeline')
  const timeline = await fetch(`${server.httpUrl}/api/processes/${worst.instance}/worst-holds/${worst.id}/timeline`)
  assert.equal(timeline.status, 200)
  const fromFirst = holds.filter((h) => h.pid === first).length
  assert.ok(fromFirst > 10, `${fromFirst} holds of the retired first run: more than the 10 a retired run keeps of its own`)
  // Every hold the service lists is one its runs keep, shortest included: the list is whole.
  const kept = [...(await (await fetch(`${server.httpUrl}/api/processes/${service.runs[0].instance}/worst-holds`)).json() as { holds: ServiceWorstHold[] }).holds,
    ...(await (await fetch(`${server.httpUrl}/api/processes/${service.runs[1].instance}/worst-holds`)).json() as { holds: ServiceWorstHold[] }).holds]
  kept.sort((a, b) => b.durationNs - a.durationNs)
  assert.deepEqual(holds.map((h) => h.durationNs), kept.slice(0, 100).map((h) => h.durationNs))
  assert.equal((await fetch(`${server.httpUrl}/api/services/0123456789abcdef/worst-holds`)).status, 404)
  console.log(`# service worst holds: ${holds.length}, ${fromFirst} of the first run, the worst ${(worst.durationNs / 1e6).toFixed(1)} ms`)
})
