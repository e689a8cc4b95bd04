// Thread churn and server memory: honest thread-per-request programs (stock CPython under the
// probe) through one server, its RSS idle, at its peak while the threads are kept, and once
// the retention window has passed (the default 60 s; --quick shortens it to 3 s).
import path from 'node:path'
import { paths } from '../server/config'
import { fixturesDir, monitoredEnv, run, startTestServer, waitFor } from '../test/helpers'
import { fmt, table } from './stats'

const MiB = 2 ** 20

export async function benchThreadChurn (quick: boolean): Promise<string> {
  const windowMs = quick ? 3000 : 60_000
  const scenarios = [
    { name: '1 process × 100 000 threads', processes: 1, threads: 100_000 },
    { name: '100 processes × 1 000 threads', processes: 100, threads: 1000 }
  ]
  const rows: string[][] = []
  for (const s of scenarios) {
    const server = await startTestServer({ retireAfterMs: windowMs })
    try {
      await new Promise((resolve) => setTimeout(resolve, 1000))
      const idle = process.memoryUsage().rss
      let peak = idle
      const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss) }, 100)
      const env = monitoredEnv(server.socket, { LD_PRELOAD: paths.probeLibrary, PYTHONPATH: paths.pythonHook })
      const t0 = Date.now()
      for (let i = 0; i < s.processes; i++) {
        const result = await run('python3', [path.join(fixturesDir, 'python', 'thread_churn.py'), String(s.threads), '100'], env, 600_000)
        if (result.code !== 0) throw new Error(`thread_churn.py failed: ${result.stderr}`)
      }
      const seconds = (Date.now() - t0) / 1000
      await waitFor('every process retired', () => server.store.list().every((p) => p.state === 'retired'), windowMs + 30_000)
      await new Promise((resolve) => setTimeout(resolve, 12_000)) // the next trim (at most every 10 s) after the last retirement
      clearInterval(sampler)
      const after = process.memoryUsage().rss
      const total = s.processes * s.threads
      rows.push([s.name, `${fmt(total / seconds / 1000, 1)} k/s`, fmt(idle / MiB, 1), fmt(peak / MiB, 1), fmt(after / MiB, 1),
        `${fmt((peak - idle) / total / 1024, 1)} KiB`])
    } finally {
      await server.close()
    }
  }
  return [
    `Thread churn (stock CPython under the probe, 100 threads at a time, each releasing the GIL once); retention window ${windowMs / 1000} s`,
    table(['scenario', 'threads started', 'RSS idle MiB', 'peak MiB', 'after window MiB', 'peak per thread'], rows),
    'Peak: threads that exited within the window are still kept (their ranges feed the dashboard). After it: their totals live on in their process and the memory goes back to the system.'
  ].join('\n')
}
