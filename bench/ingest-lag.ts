// Whether presentation delays ingest: the server's event-loop delay and the ingest lag
// (gilwatch_ingest_lag_seconds: a heartbeat written by a process until the server read it)
// while 50 threads send 100 k ranges/s, first alone, then with a presentation load from
// another process (64 dashboard clients re-subscribing to the widest view as fast as allowed,
// /api/processes and /metrics fetched back to back). Target: ingest lag ≤ 100 ms.
import { spawn } from 'node:child_process'
import path from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { startTestServer } from '../test/helpers'
import { fmt, table } from './stats'

export async function benchIngestLag (quick: boolean): Promise<string> {
  const seconds = quick ? 3 : 10
  const server = await startTestServer()
  const rows: string[][] = []
  try {
    const ingest = spawn(process.execPath, [path.join(__dirname, 'load-client.js'), server.socket, '50', '100000', String(2 * seconds + 4)], { stdio: 'ignore' })
    await new Promise((resolve) => setTimeout(resolve, 2000))
    for (const presentation of [false, true]) {
      const load = presentation
        ? spawn(process.execPath, [path.join(__dirname, 'presentation-load.js'), server.httpUrl!, '64', String(seconds)], { stdio: 'ignore' })
        : undefined
      const delay = monitorEventLoopDelay({ resolution: 5 })
      delay.enable()
      let maxLag = 0
      const sampler = setInterval(() => {
        for (const p of server.store.metrics().processes) if (p.connected) maxLag = Math.max(maxLag, p.lagSeconds)
      }, 50)
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
      clearInterval(sampler)
      delay.disable()
      load?.kill()
      rows.push([presentation ? 'with presentation load' : 'ingest alone', fmt(delay.percentile(99) / 1e6, 1), fmt(delay.max / 1e6, 1), fmt(maxLag * 1000, 1)])
    }
    ingest.kill()
  } finally {
    await server.close()
  }
  return [
    `Ingest while presenting (50 threads, 100 k ranges/s; ${seconds} s each; target: ingest lag ≤ 100 ms)`,
    table(['', 'event-loop delay p99 ms', 'max ms', 'ingest lag max ms'], rows)
  ].join('\n')
}
