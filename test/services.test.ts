// A service restarted during a soak is one history: its runs (processes with the same
// GILWATCH_SERVICE, started by the same user) in /api/services, and their series stitched in
// /api/services/:id/series, each run's numbers equal to its own totals, after its process
// retired too (a retired process keeps its coarser tiers).
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { paths } from '../server/config'
import { SeriesColumn, type ServiceEntry } from '../server/shared/views'
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
    assert.deepEqual(errors, [])
  } finally {
    await browser.close()
  }
})
