// The live dashboard in a real browser (Debian's Chromium, driven by playwright-core): the
// 200 ms ground truth shows in the charts, the thread table, the long-holds table and the
// timeline; the page reconnects by itself; a WebSocket client that does not read cannot make
// the server queue.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, test } from 'node:test'
import type { Browser, Page } from 'playwright-core'
import WebSocket from 'ws'
import { paths } from '../server/config'
import { SEND_BUFFER_LIMIT } from '../server/dashboard'
import { buildPython } from '../server/cli/python-build'
import { defaultWebLimits } from '../server/web-limits'
import { assertBlockerHold, buildFixture, fixturesDir, launchBrowser, monitoredEnv, repoRoot, run, startTestServer, waitFor, type TestServer } from './helpers'

let server: TestServer
let browser: Browser
let python: string

before(async () => {
  python = (await buildPython({ minor: '3.11', log: () => {} })).python
  server = await startTestServer()
  browser = await launchBrowser()
})
after(async () => {
  await browser?.close()
  await server?.close()
})

async function groundTruth (warmupSeconds: number): Promise<{ pid: number, tid: number, stdout: string }> {
  const result = await run(python, [path.join(fixturesDir, 'python', 'ground_truth.py'), String(warmupSeconds)],
    monitoredEnv(server.socket, { PYTHONPATH: paths.pythonHook }))
  assert.equal(result.code, 0, result.stderr)
  const pid = Number(/pid (\d+)/.exec(result.stdout)![1])
  const tid = Number(/blocker (\d+)/.exec(result.stdout)![1])
  await waitFor('the process to finish', async () => (await server.processes()).find((p) => p.pid === pid && p.state !== 'connected'))
  return { pid, tid, stdout: result.stdout }
}

const page = async (query: string): Promise<Page> => {
  const p = await browser.newPage({ viewport: { width: 1400, height: 1100 } })
  const errors: string[] = []
  p.on('pageerror', (e) => errors.push(e.message))
  await p.goto(`${server.httpUrl}/${query}`)
  ;(p as any).errors = errors
  return p
}

test('the 200 ms hold on "blocker": charts, thread table, long-holds table, timeline lane, and a click that shows it', async () => {
  const truth = await groundTruth(4) // a few seconds of contention first, for the charts
  const { pid } = truth
  const p = await page(`?pid=${pid}`)
  try {
    // The long-holds table lists the hold with its duration (the program's own measure).
    const row = p.locator('#long-holds tr[data-thread="blocker"]')
    await row.first().waitFor({ timeout: 15_000 })
    const durationNs = Number(await row.first().getAttribute('data-duration-ns'))
    assertBlockerHold(durationNs, truth.stdout, 'long-holds table')
    assert.match(await row.first().textContent() ?? '', /blocker20\d\.\d ms/)
    // Why it was long (usleep: blocked in clock_nanosleep, asleep in hrtimer_nanosleep), the
    // Python line that held it, and who waited through it.
    const why = await row.first().locator('td').nth(3).textContent() ?? ''
    assert.match(why, /blocked (19\d|20\d) ms in hrtimer_nanosleep \(clock_nanosleep\)/) // the whole 200 ms hold
    // The other threads, counted at each sample, read as an average.
    assert.match(why, /; meanwhile on average \d+(\.\d)? threads? waiting for the GIL/)
    const usleepLine = fs.readFileSync(path.join(fixturesDir, 'python', 'ground_truth.py'), 'utf8').split('\n')
      .findIndex((l) => l.trim() === 'libc.usleep(200000)') + 1
    assert.match(await row.first().locator('td').nth(4).textContent() ?? '', new RegExp(`^at blocker \\(\\S+ground_truth\\.py:${usleepLine}\\)`))
    assert.match(await row.first().locator('td').nth(5).textContent() ?? '', /spinner-2 \(/)

    // The timeline has a lane for "blocker" with one hold of that width.
    const lane = await p.waitForFunction(() => {
      const g = (window as any).__gilwatch
      const lane = [...g.model.lanes.values()].find((l: any) => l.name === 'blocker')
      const hold = lane?.items.find((i: any) => i.kind === 0 && i.count === 1 && i.end - i.start >= 200e6)
      return hold ? { durationNs: hold.end - hold.start } : null
    }, undefined, { timeout: 15_000 }).then((h) => h.jsonValue() as Promise<{ durationNs: number }>)
    assertBlockerHold(lane.durationNs, truth.stdout, 'timeline')

    // The charts have points.
    await p.waitForFunction(() => (window as any).__gilwatch.charts.points() > 0, undefined, { timeout: 15_000 })
    const tiles = await p.locator('#tiles .tile').allTextContents()
    assert.ok(tiles.some((t) => /Longest hold20\d\.\d ms.*blocker/.test(t)), tiles.join(' | '))
    // Waiting threads read as an average over a stated span, not as "5.4 threads".
    assert.ok(tiles.some((t) => /^Threads waitingavg \d+\.\daverage over the last [1-5] s$/.test(t)), tiles.join(' | '))

    // The thread table: "blocker" with its one 200 ms hold (exact: from the process's own
    // totals and ranges), rows most held first, the spinners on top.
    const threadRow = p.locator('#threads tr[data-thread="blocker"]')
    await threadRow.waitFor({ timeout: 15_000 })
    const longestNs = Number(await threadRow.getAttribute('data-longest-hold-ns'))
    assertBlockerHold(longestNs, truth.stdout, 'thread table: longest hold')
    assert.ok(Number(await threadRow.getAttribute('data-acquisitions')) >= 1)
    const longest = threadRow.locator('td.longest')
    assert.match(await longest.locator('.hold').textContent() ?? '', /^20\d\.\d ms$/)
    assert.match(await longest.locator('.when').textContent() ?? '', /^at \d\d:\d\d:\d\d\.\d{3}$/)
    // Over the charts' range (the live 5 minutes: all of this young process's life), in the
    // 10 s steps of the threads' history.
    assert.match(await p.locator('#threads-scope').textContent() ?? '', /^share of \d+\.\d\d s from \d\d:\d\d:\d\d\.\d{3} \(in 10 s steps\)/)
    const rows = await p.locator('#threads tr').evaluateAll((trs) => trs.map((tr) => ({
      name: (tr as HTMLElement).dataset.thread!,
      holdNs: Number((tr as HTMLElement).dataset.holdNs),
      heldPercent: parseFloat((tr as HTMLTableRowElement).cells[1].textContent!)
    })))
    assert.ok(rows.length >= 4 && rows.length <= 50, rows.map((r) => r.name).join(', '))
    for (let i = 1; i < rows.length; i++) {
      assert.ok(rows[i - 1].holdNs >= rows[i].holdNs && rows[i - 1].heldPercent >= rows[i].heldPercent,
        `not sorted by held %: ${rows.map((r) => `${r.name} ${r.heldPercent}`).join(', ')}`)
    }
    assert.match(rows[0].name, /^spinner/)
    const blocker = rows.find((r) => r.name === 'blocker')!
    assert.ok(blocker.holdNs >= longestNs, 'the longest hold is part of the held time')
    // One GIL: the threads' held shares cannot add up to more than the lifetime.
    assert.ok(rows.reduce((n, r) => n + r.heldPercent, 0) <= 100.5, rows.map((r) => r.heldPercent).join(' + '))
    assert.equal(await p.locator('#threads-more').isHidden(), true)

    // Clicking the row pauses and zooms the timeline onto the hold.
    await row.first().click()
    const view = await p.waitForFunction(() => {
      const g = (window as any).__gilwatch
      return g.state.paused ? g.timeline.view : null
    }).then((v) => v.jsonValue())
    assert.ok(view.endNs - view.startNs < 1e9, 'zoomed to about the hold')
    await p.waitForTimeout(500)
    // The README's screenshot: rewritten when GILWATCH_UPDATE_SCREENSHOT=1 (or missing), so a
    // plain `npm test` leaves the checkout as it was.
    const committed = path.join(repoRoot, 'docs', 'dashboard.png')
    const update = process.env.GILWATCH_UPDATE_SCREENSHOT === '1' || !fs.existsSync(committed)
    const shot = update ? committed : path.join(os.tmpdir(), 'gilwatch-dashboard.png')
    await p.screenshot({ path: shot, fullPage: true })
    assert.ok(fs.statSync(shot).size > 20_000, 'a screenshot with content')
    assert.deepEqual((p as any).errors, [])
  } finally {
    await p.close()
  }
})

test('the worst hold of the run: listed beside the latest, and opened on the timeline kept with it', async () => {
  // A 300 ms hold with a thread waiting through it, then 200 shorter long holds.
  const result = await run(python, [path.join(fixturesDir, 'python', 'worst_hold.py'), '200'], monitoredEnv(server.socket, { PYTHONPATH: paths.pythonHook }))
  assert.equal(result.code, 0, result.stderr)
  const pid = Number(/pid (\d+)/.exec(result.stdout)![1])
  await waitFor('the process to finish', async () => (await server.processes()).find((p) => p.pid === pid && p.state !== 'connected'))
  const p = await page(`?pid=${pid}`)
  try {
    await p.locator('#holds-worst').check()
    const first = p.locator('#long-holds tr').first()
    await p.waitForFunction(() => (document.querySelector('#long-holds tr') as HTMLElement | null)?.dataset.thread === 'holder', undefined, { timeout: 15_000 })
    assert.ok(Number(await first.getAttribute('data-duration-ns')) >= 300e6, 'the 300 ms hold first')
    const worst = await p.evaluate(() => (window as any).__gilwatch.state.worstHolds[0])
    await first.click()
    // The timeline shows the snapshot: the hold itself on the holder's lane, the waiter's wait.
    const seen = await p.waitForFunction((hold) => {
      const g = (window as any).__gilwatch
      if (g.state.worstHoldShown !== hold.id) return null
      const items = (name: string) => [...g.model.lanes.values()].find((l: any) => l.name === name)?.items ?? []
      const own = items('holder').find((it: any) => it.kind === 0 && Math.abs(it.start - hold.startNs) < 2000 && Math.abs(it.end - hold.endNs) < 2000)
      const waited = items('waiter').find((it: any) => it.kind === 1 && it.start < hold.endNs && it.end > hold.startNs)
      return own && waited ? { paused: g.state.paused } : null
    }, worst, { timeout: 15_000 }).then((h) => h.jsonValue())
    assert.equal(seen?.paused, true)
    assert.deepEqual((p as any).errors, [])
  } finally {
    await p.close()
  }
})

test('a live process scrolls in; the page reconnects after the server drops it', async () => {
  const fixture = buildFixture('gil_fixture.c')
  const running = run(fixture, ['--truth', path.join(server.dir, 'truth-live'), '--threads', '6', '--duration-ms', '6000'],
    monitoredEnv(server.socket))
  const p = await page('')
  try {
    await p.waitForFunction(() => (window as any).__gilwatch.model.lanes.size >= 6, undefined, { timeout: 15_000 })
    const count = () => p.evaluate(() => (window as any).__gilwatch.state.messages as number)
    // Updates keep coming while it runs (their rate is reported, not asserted: a timing).
    const before = await count()
    const started = performance.now()
    await p.waitForFunction((n) => (window as any).__gilwatch.state.messages >= n, before + 5, { timeout: 15_000 })
    const perSecond = Math.round(((await count()) - before) * 1000 / (performance.now() - started))
    const frameMs = await p.evaluate(() => (window as any).__gilwatch.timeline.lastFrameMs as number)
    console.log(`# live timeline: ${perSecond} updates/s, last frame ${frameMs.toFixed(1)} ms`)

    server.dashboard.terminateClients()
    await p.waitForFunction(() => document.getElementById('connection')!.textContent === 'reconnecting…', undefined, { timeout: 5000 })
    await p.waitForFunction(() => document.getElementById('connection')!.textContent === 'live', undefined, { timeout: 10_000 })
    const resumed = await count()
    await p.waitForFunction((n) => (window as any).__gilwatch.state.messages > n + 3, resumed, { timeout: 5000 })
  } finally {
    await p.close()
    await running
  }
})

test('a WebSocket client that never reads does not grow the server\'s buffers', async () => {
  const fixture = buildFixture('gil_fixture.c')
  const running = run(fixture, ['--truth', path.join(server.dir, 'truth-slow'), '--threads', '8', '--duration-ms', '10000'],
    monitoredEnv(server.socket))
  const socket = new WebSocket(`${server.httpUrl!.replace('http', 'ws')}/ws`)
  await new Promise((resolve) => socket.once('open', resolve))
  ;(socket as any)._socket.pause() // never read again
  const rssBefore = process.memoryUsage().rss
  try {
    // Ask for the widest full window over and over (as fast as the message rate allows):
    // every answer is large.
    // Until the kernel's socket buffers are full and the server holds back (at most 8 s).
    for (let i = 0; i < 8 * defaultWebLimits.wsMessagesPerSecond && server.dashboard.stats().skippedUpdates === 0; i++) {
      socket.send(JSON.stringify({ type: 'subscribe', windowMs: 30_000, widthPx: 8000 }))
      await new Promise((resolve) => setTimeout(resolve, 1000 / defaultWebLimits.wsMessagesPerSecond + 10))
    }
    assert.equal(socket.readyState, WebSocket.OPEN, 'within the message rate, the client stays connected')
    const stats = server.dashboard.stats()
    assert.ok(stats.skippedUpdates > 0, 'updates were skipped for the slow client')
    // At most the limit plus the one message that crossed it.
    assert.ok(stats.maxBufferedBytes < SEND_BUFFER_LIMIT + 4 * 1024 * 1024, `${stats.maxBufferedBytes} bytes buffered`)
    const grown = (process.memoryUsage().rss - rssBefore) / 2 ** 20
    assert.ok(grown < 100, `server RSS grew ${grown.toFixed(0)} MiB`)
    console.log(`# slow client: ${stats.skippedUpdates} updates skipped, ${(stats.maxBufferedBytes / 2 ** 20).toFixed(2)} MiB buffered at most`)
  } finally {
    socket.terminate()
    await running
  }
})
