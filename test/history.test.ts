// The history in tiers: a run longer than the finest tier (tiers shortened by configuration:
// 1 s × 4, 2 s × 60, 10 s × 100) is shown whole from the next tier, through the API and the
// dashboard's range picker in Chromium, and its numbers add up to the process's own totals;
// the thread table follows the range and the charts' zoom.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { Browser } from 'playwright-core'
import { paths } from '../server/config'
import { SERIES_COLUMNS, SeriesColumn, type ThreadsView } from '../server/shared/views'
import { finished, launchBrowser, monitoredEnv, parseExposition, run, script, startTestServer, STOCK_PYTHON, type TestServer } from './helpers'

let server: TestServer
let browser: Browser
before(async () => {
  const tiers = [{ widthS: 1, slots: 4 }, { widthS: 2, slots: 60 }, { widthS: 10, slots: 100 }]
  server = await startTestServer({ seriesTiers: tiers, threadTiers: tiers })
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

    // "Last hour": the thread table over that range, from the threads' 2 s tier (the 1 s
    // one keeps 4 s), adds up to the process's totals exactly.
    await page.selectOption('#chart-range', '3600')
    const table = (await page.waitForFunction(() => {
      const scope = document.getElementById('threads-scope')!
      if (!/in 2 s steps/.test(scope.textContent ?? '')) return null
      const rows = [...document.querySelectorAll<HTMLElement>('#threads tr')].map((r) => ({
        name: r.dataset.thread!, holdNs: Number(r.dataset.holdNs), acquisitions: Number(r.dataset.acquisitions)
      }))
      return { rows, durationNs: Number(scope.dataset.durationNs) }
    }, undefined, { timeout: 15_000 }).then((h) => h.jsonValue()))!
    const tableHeld = table.rows.reduce((n, r) => n + r.holdNs, 0)
    assert.equal(table.rows.reduce((n, r) => n + r.acquisitions, 0), acquisitions, 'every acquisition in the table, once')
    assert.ok(Math.abs(tableHeld / 1e9 - heldSeconds) < 1e-6, `the time held: ${tableHeld / 1e9} s in the table, ${heldSeconds} s in all`)
    assert.equal(table.rows[0].name, 'steady', 'the holder first')
    assert.ok(table.durationNs >= 8e9, 'the whole run')
    // The same table from the API, over the run's wall-clock span, and its schema's refusals.
    const span = `fromMs=${rows[0][SeriesColumn.WALL] - 10_000}&toMs=${rows[rows.length - 1][SeriesColumn.WALL] + 10_000}`
    const api = await (await fetch(`${server.httpUrl}/api/processes/${process.instance}/threads?${span}`)).json() as ThreadsView
    assert.equal(api.widthS, 2, 'from the threads\' 2 s tier')
    assert.equal(api.threads.reduce((n, t) => n + t.acquisitions, 0), acquisitions, 'the API\'s table: every acquisition')
    assert.ok(Math.abs(api.threads.reduce((n, t) => n + t.holdNs, 0) / 1e9 - heldSeconds) < 1e-6)
    for (const bad of ['fromMs=5', 'fromMs=10&toMs=5', 'toMs=-1&fromMs=0']) {
      assert.equal((await fetch(`${server.httpUrl}/api/processes/${process.instance}/threads?${bad}`)).status, 400, bad)
    }

    // A drag across a chart zooms every chart, and the table follows: a part of the run.
    const over = (await page.locator('#chart-fractions .u-over').boundingBox())!
    await page.mouse.move(over.x + over.width * 0.3, over.y + over.height / 2)
    await page.mouse.down()
    await page.mouse.move(over.x + over.width * 0.6, over.y + over.height / 2, { steps: 5 })
    await page.mouse.up()
    assert.equal(await page.locator('#chart-zoom').isVisible(), true, 'the zoom shows its span')
    const zoomed = (await page.waitForFunction((whole) => {
      const scope = document.getElementById('threads-scope')!
      const durationNs = Number(scope.dataset.durationNs)
      if (!(durationNs < whole)) return null
      const held = [...document.querySelectorAll<HTMLElement>('#threads tr')].reduce((n, r) => n + Number(r.dataset.holdNs), 0)
      const zoom = (window as any).__gilwatch.charts.zoom
      return { durationNs, held, zoom }
    }, table.durationNs, { timeout: 15_000 }).then((h) => h.jsonValue()))!
    assert.ok(zoomed.held > 0 && zoomed.held < tableHeld, `a part of the time held: ${zoomed.held} of ${tableHeld} ns`)
    const scales = await page.evaluate(() => (window as any).__gilwatch.charts.plots.map((p: any) => [p.scales.x.min, p.scales.x.max]))
    for (const [min, max] of scales) assert.deepEqual([min, max], [zoomed.zoom.from, zoomed.zoom.to], 'every chart zoomed alike')
    // Pan earlier by half the span, within the run; reset: the whole range again.
    await page.click('#zoom-back')
    const panned = await page.evaluate(() => (window as any).__gilwatch.charts.zoom)
    assert.ok(panned.from < zoomed.zoom.from && Math.abs((panned.to - panned.from) - (zoomed.zoom.to - zoomed.zoom.from)) < 1e-6, 'panned, same span')
    console.log(`# thread table: ${table.rows.length} rows over ${(table.durationNs / 1e9).toFixed(1)} s; zoomed to ${(zoomed.durationNs / 1e9).toFixed(1)} s: ${(zoomed.held / 1e9).toFixed(3)} of ${(tableHeld / 1e9).toFixed(3)} s held`)
    await page.click('#zoom-reset')
    await page.waitForFunction((whole) => Number(document.getElementById('threads-scope')!.dataset.durationNs) === whole, table.durationNs, { timeout: 15_000 })
    assert.equal(await page.locator('#chart-zoom').isVisible(), false)
    assert.deepEqual(errors, [])
  } finally {
    await page.close()
  }
  console.log(`# ${rows.length} rows of 2 s for a ${sum((r) => r[SeriesColumn.SPAN]).toFixed(1)} s run, ${acquisitions} acquisitions`)
})
