// Bench 3 (continued): real monitored processes (the injection library) at rising total
// rates: what arrives, what is dropped, and the server's CPU, to find where drops begin.
import path from 'node:path'
import { buildC, monitoredEnv, repoRoot, run, startTestServer, waitFor } from '../test/helpers'
import { fmt, table } from './stats'

export async function benchDrops (quick: boolean): Promise<string> {
  const flood = buildC(path.join(repoRoot, 'bench', 'nvtx_flood.c'))
  const seconds = quick ? 2 : 4
  const rates = quick ? [250_000, 1_000_000, 4_000_000] : [250_000, 500_000, 1_000_000, 2_000_000, 4_000_000, 8_000_000]
  const rows: string[][] = []
  for (const rate of rates) {
    const server = await startTestServer({ recentPerThread: 1024 })
    try {
      const processes = 4
      const cpu0 = process.cpuUsage()
      const t0 = Date.now()
      const results = await Promise.all(Array.from({ length: processes }, () =>
        run(flood, [String(rate / processes), String(seconds), '2'], monitoredEnv(server.socket), 120_000)))
      const issued = results.reduce((n, r) => n + Number(/pairs (\d+)/.exec(r.stdout)?.[1] ?? 0), 0)
      await waitFor('the processes to finish', async () => (await server.processes()).every((p) => p.state !== 'connected'), 20_000)
      const elapsed = (Date.now() - t0) / 1000
      const cpu = process.cpuUsage(cpu0)
      const ps = await server.processes()
      const received = ps.reduce((n, p) => n + p.rangesReceived, 0)
      const dropped = ps.reduce((n, p) => n + p.droppedEvents, 0)
      rows.push([`${fmt(rate / 1e6, 2)} M/s`, `${fmt(issued / seconds / 1e6, 2)} M/s`, `${fmt(received / seconds / 1e6, 2)} M/s`,
        `${fmt(dropped / Math.max(1, issued) * 100, 2)} %`, `${fmt((cpu.user + cpu.system) / 1e6 / elapsed * 100, 0)} %`])
    } finally {
      await server.close()
    }
  }
  return [
    `Real monitored processes (4 × nvtx_flood, 2 threads each, paced push+pop) into one server, ${seconds} s per row`,
    table(['target', 'issued', 'received', 'dropped', 'server CPU'], rows),
    'Drops begin where the senders or the server run out of CPU: everything here shares 2 cores.'
  ].join('\n')
}
