// `gilwatch view FILE`: a recording made by `gilwatch run --record` opened in the dashboard,
// with its worst hold and the whole run in the charts, in Chromium.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import path from 'node:path'
import { after, before, test } from 'node:test'
import type { Browser } from 'playwright-core'
import type { ProcessSnapshot, WorstHold } from '../server/shared/views'
import { launchBrowser, recordRun, repoRoot, tempDir } from './helpers'

const gilwatch = path.join(repoRoot, 'bin', 'gilwatch.js')
let browser: Browser
before(async () => {
  browser = await launchBrowser()
})
after(async () => { await browser?.close() })

test('a recording in the dashboard: its process, its worst hold with the kept timeline, the whole run in the charts', async () => {
  const dir = tempDir()
  const recording = path.join(dir, 'run.gwrec')
  const pid = await recordRun(dir, recording, 'worst_hold.py', ['300'])

  const viewer = spawn(process.execPath, [gilwatch, 'view', recording, '--http', '127.0.0.1:0'], { stdio: ['ignore', 'ignore', 'pipe'] })
  const exited = new Promise<number | null>((resolve) => viewer.once('exit', resolve))
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let stderr = ''
      viewer.stderr!.on('data', (d) => {
        stderr += d
        const m = /dashboard on (http:\/\/\S+?)\/ /.exec(stderr)
        if (m) resolve(m[1])
      })
      viewer.once('exit', () => reject(new Error(`gilwatch view exited: ${stderr}`)))
    })
    const { processes } = await (await fetch(`${url}/api/processes`)).json() as { processes: ProcessSnapshot[] }
    const recordedProcess = processes.find((p) => p.pid === pid)!
    assert.equal(recordedProcess.totals, 'final')
    const { holds } = await (await fetch(`${url}/api/processes/${recordedProcess.instance}/worst-holds`)).json() as { holds: WorstHold[] }
    assert.equal(holds[0].name, 'holder')
    assert.ok(holds[0].durationNs >= 300e6 && holds[0].settled)
    assert.equal((await fetch(`${url}/api/processes/${recordedProcess.instance}/worst-holds/${holds[0].id}/timeline`)).status, 200)

    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    try {
      await page.goto(`${url}/?pid=${pid}`)
      await page.selectOption('#chart-range', '0')
      await page.waitForFunction(() => (window as any).__gilwatch.charts.points() > 0, undefined, { timeout: 15_000 })
      await page.locator('#holds-worst').check()
      await page.waitForFunction(() => (document.querySelector('#long-holds tr') as HTMLElement | null)?.dataset.thread === 'holder', undefined, { timeout: 15_000 })
      assert.deepEqual(errors, [])
    } finally {
      await page.close()
    }
  } finally {
    viewer.kill('SIGTERM')
  }
  assert.equal(await exited, 0, 'view ends cleanly on SIGTERM')
})
