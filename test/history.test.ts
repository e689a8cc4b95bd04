// The history in tiers: a run longer than the finest tier (tiers shortened by configuration:
// 1 s × 4, 2 s × 60, 10 s × 100) is shown whole from the next tier, through the API and the
// dashboard's range picker in Chromium, and its numbers add up to the process's own totals.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { Browser } from 'playwright-core'
import { paths } from '../server/config'
import { SERIES_COLUMNS, SeriesColumn } from '../server/shared/views'
import { finished, launchBrowser, monitoredEnv, parseExposition, run, script, startTestServer, STOCK_PYTHON, type TestServer } from './helpers'

let server: TestServer
let browser: Browser
before(async () => {
  server = await startTestServer({ seriesTiers: [{ widthS: 1, slots: 4 }, { widthS: 2, slots: 60 }, { widthS: 10, slots: 100 }] })
  browser = await launchBrowser()
})
after(async () => {
  await browser?.close()
  await server?.close()
})

test('a run longer than the finest tier: the whole of it from the next tier, equal to the process\'s totals, in the API and the dashboard', async () => {
  const result = await run(STOCK_PYTHON, [script('steady_holds.py'), '8'],
    monitoredEnv(server.socket, { LD_PRELOAD: paths.probeLibrary, PYTHONPATH: paths.pythonHook }), 60_000)
  assert.equal(result.code, 0, result.stderr)
  const pid = Number(/pid (\d+)/.exec(result.stdout)![1])
  const process = await finished(server, pid)
  assert.equal(process.droppedEvents, 0, 'every range arrived: the series can be compared with the totals')

  // The process's own totals, as /metrics exposes them.
  const samples = parseExposition(await (await fetch(`${server.httpUrl}/metrics`)).text()).filter((s) => s.labels.pid === String(pid))
  const total = (name: string) => samples.filter((s) => s.name === name).reduce((n, s) => n + s.value, 0)
  const acquisitions = total('python_gil_acquisitions_total')
  const heldSeconds = total('python_gil_hold_seconds_total')
  assert.ok(acquisitions > 1000, `${acquisitions} acquisitions`)

  const answer = await (await fetch(`${server.httpUrl}/api/processes/${process.instance}/series?rangeS=0`)).json() as
    { series: Array<{ interp: number, widthS: number, columns: number, rows: number[] }> }
  const gil = answer.series.find((s) => s.interp === 0)!
  assert.equal(gil.columns, SERIES_COLUMNS)
  assert.equal(gil.widthS, 2, 'the 1 s tier keeps 4 s: the run comes from the 2 s tier')
  const rows = Array.from({ length: gil.rows.length / gil.columns }, (_, i) => gil.rows.slice(i * gil.columns, (i + 1) * gil.columns))
  const sum = (f: (r: number[]) => number) => rows.reduce((n, r) => n + f(r), 0)
  assert.equal(Math.round(sum((r) => r[SeriesColumn.ACQUISITIONS] * r[SeriesColumn.SPAN])), acquisitions, 'every acquisition, once')
  assert.ok(Math.abs(sum((r) => r[SeriesColumn.HELD] * r[SeriesColumn.SPAN]) - heldSeconds) < 1e-6, 'the time held, exactly')
  assert.ok(sum((r) => r[SeriesColumn.SPAN]) >= 8, 'the whole run')
  for (let i = 1; i < rows.length; i++) assert.ok(rows[i][SeriesColumn.WALL] > rows[i - 1][SeriesColumn.WALL], 'in time order')

  // The dashboard's range picker: "whole run" shows the same rows.
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(e.message))
  try {
    await page.goto(`${server.httpUrl}/?pid=${pid}`)
    await page.waitForFunction(() => (window as any).__gilwatch.state.shown !== null, undefined, { timeout: 15_000 })
    await page.selectOption('#chart-range', '0')
    const shown = await page.waitForFunction((n) => {
      const charts = (window as any).__gilwatch.charts
      return charts.points() === n ? charts.latest(n) : null
    }, rows.length, { timeout: 15_000 }).then((h) => h.jsonValue()) as number[][]
    assert.deepEqual(shown.map((r) => r[SeriesColumn.WALL]), rows.map((r) => r[SeriesColumn.WALL] / 1000))
    assert.deepEqual(errors, [])
  } finally {
    await page.close()
  }
  console.log(`# ${rows.length} rows of 2 s for a ${sum((r) => r[SeriesColumn.SPAN]).toFixed(1)} s run, ${acquisitions} acquisitions`)
})
