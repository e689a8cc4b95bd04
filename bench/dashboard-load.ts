// Bench: the dashboard at 200 threads and 100 k ranges/s (a synthetic process on the real
// clock), in Debian's Chromium: frame time of the timeline, WebSocket message size and
// rate, and the server's CPU. Baseline: the same page on an idle process (2 threads, 1 k/s).
import { spawn } from 'node:child_process'
import path from 'node:path'
import { chromium } from 'playwright-core'
import { startTestServer } from '../test/helpers'
import { fmt, summarize, table } from './stats'

async function measure (threads: number, rate: number, seconds: number): Promise<string[]> {
  const server = await startTestServer()
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] })
  try {
    const load = spawn(process.execPath, [path.join(__dirname, 'load-client.js'), server.socket, String(threads), String(rate), String(seconds + 6)], { stdio: 'ignore' })
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } })
    await page.goto(`${server.httpUrl}/`)
    await page.waitForFunction((n) => (window as any).__gilwatch.model.lanes.size >= n, threads, { timeout: 20_000 })
    await page.waitForTimeout(2000) // a full window has arrived
    const cpu0 = process.cpuUsage()
    const samples = await page.evaluate(async (ms) => {
      const g = (window as any).__gilwatch
      const frames: number[] = []
      const sizes: number[] = []
      const start = g.state.messages
      const end = performance.now() + ms
      while (performance.now() < end) {
        await new Promise((resolve) => setTimeout(resolve, 100))
        frames.push(g.timeline.lastFrameMs)
        sizes.push(g.state.lastMessageBytes)
      }
      return { frames, sizes, messages: g.state.messages - start, items: g.timeline.drawnItems }
    }, seconds * 1000)
    const cpu = process.cpuUsage(cpu0)
    load.kill()
    const frame = summarize(samples.frames)
    const size = summarize(samples.sizes)
    return [`${threads} threads, ${fmt(rate / 1000, 0)} k/s`, `${fmt(frame.median, 1)} [${fmt(frame.min, 1)}–${fmt(frame.max, 1)}]`,
      `${fmt(size.median / 1024, 1)} KiB`, fmt(samples.messages / seconds, 1), String(samples.items),
      `${fmt((cpu.user + cpu.system) / 1e6 / seconds * 100, 0)} %`]
  } finally {
    await browser.close()
    await server.close()
  }
}

export async function benchDashboard (quick: boolean): Promise<string> {
  const seconds = quick ? 3 : 8
  const rows = [await measure(2, 1000, seconds), await measure(200, 100_000, seconds)]
  return [
    `Dashboard in Chromium (1600 px wide, live 20 s window, ${seconds} s measured; server CPU includes ingest of the load)`,
    table(['load', 'timeline frame ms', 'message (median)', 'messages/s', 'items drawn', 'server CPU'], rows)
  ].join('\n')
}
