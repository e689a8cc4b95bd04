// Bench 3: what one server can take. K synthetic senders write valid frames as fast as the
// Unix socket accepts them; the server's intake (ranges/s) and its CPU use are measured
// over the same interval. Baseline: the in-process decode rate (bench decode).
import { spawn } from 'node:child_process'
import path from 'node:path'
import { startTestServer } from '../test/helpers'
import { fmt, table } from './stats'

export async function benchServerCapacity (quick: boolean): Promise<string> {
  const seconds = quick ? 2 : 5
  const rows: string[][] = []
  for (const senders of [1, 4, 16]) {
    const server = await startTestServer({ recentPerThread: 1024 })
    try {
      const before = server.store.counters().rangesReceived
      const cpu0 = process.cpuUsage()
      const t0 = process.hrtime.bigint()
      await Promise.all(Array.from({ length: senders }, (_, i) => new Promise<void>((resolve) => {
        const child = spawn(process.execPath, [path.join(__dirname, 'flood-client.js'), server.socket, String(seconds), String(i)], { stdio: 'ignore' })
        child.on('exit', () => resolve())
      })))
      await new Promise((resolve) => setTimeout(resolve, 200)) // the last bytes in flight
      const elapsed = Number(process.hrtime.bigint() - t0) / 1e9
      const cpu = process.cpuUsage(cpu0)
      const ranges = server.store.counters().rangesReceived - before
      rows.push([String(senders), fmt(ranges / elapsed / 1e6, 2), `${fmt((cpu.user + cpu.system) / 1e6 / elapsed * 100, 0)} %`,
        fmt(ranges / ((cpu.user + cpu.system) / 1e6) / 1e6, 2)])
    } finally {
      await server.close()
    }
  }
  return [
    `Server intake over the Unix socket (${seconds} s per row, senders are separate Node processes on the same 2 cores)`,
    table(['senders', 'M ranges/s', 'server CPU', 'M ranges per CPU-second'], rows),
    'At saturation the server uses one core; the last column is the rate one core sustains.'
  ].join('\n')
}
