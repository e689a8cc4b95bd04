// `gilwatch report FILE --html OUT`: one page that opens in Chromium with every request
// refused (no network, no script) and shows the worst hold with its timeline, the charts
// of the whole run and the per-thread table; names the process chose are text, not markup.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { after, before, test } from 'node:test'
import type { Browser } from 'playwright-core'
import { launchBrowser, recordRun, repoRoot, run, tempDir } from './helpers'

const gilwatch = path.join(repoRoot, 'bin', 'gilwatch.js')
const HOLDER = 'holder<b>"bold"</b>'
let browser: Browser
before(async () => {
  browser = await launchBrowser()
})
after(async () => { await browser?.close() })

test('the HTML report of a recording: self-contained, the worst hold with its timeline, the charts, the threads', async () => {
  const dir = tempDir()
  const recording = path.join(dir, 'run.gwrec')
  await recordRun(dir, recording, 'worst_hold.py', ['300', HOLDER])
  const out = path.join(dir, 'report.html')
  const reported = await run(process.execPath, [gilwatch, 'report', recording, '--html', out], process.env)
  assert.equal(reported.code, 0, reported.stderr)
  assert.match(reported.stderr, /wrote .*report\.html \(1 processes\)/)
  assert.equal(fs.statSync(out).mode & 0o777, 0o600)
  assert.equal((await run(process.execPath, [gilwatch, 'report', recording, '--html', out], process.env)).code, 2, 'an existing page is not replaced without --overwrite')

  const context = await browser.newContext({ offline: true, javaScriptEnabled: false })
  const requests: string[] = []
  await context.route('**/*', (route) => {
    if (route.request().url().startsWith('file:')) return route.continue()
    requests.push(route.request().url())
    return route.abort()
  })
  const page = await context.newPage()
  try {
    await page.goto(`file://${out}`)
    const worst = page.locator('tr.worst-hold').first()
    assert.ok(Number(await worst.getAttribute('data-duration-ns')) >= 300e6, 'the 300 ms hold first')
    assert.equal(await worst.locator('td').nth(2).textContent(), HOLDER, 'the name as text')
    assert.equal(await page.locator('b').count(), 0, 'and not as markup')
    assert.match(await worst.textContent() ?? '', /waiter \(\d+\.\d ms\)/)
    // Its timeline (a lane per thread) and three charts of the run with their lines.
    assert.ok(await page.locator('svg[aria-label="timeline"] rect').count() > 2)
    assert.equal(await page.locator('svg.chart').count(), 3)
    assert.ok(await page.locator('svg.chart polyline').count() >= 3)
    assert.ok(await page.locator('table tr', { hasText: 'waiter' }).count() >= 2, 'the thread table')
    assert.deepEqual(requests, [], 'nothing fetched')
  } finally {
    await context.close()
  }
})
