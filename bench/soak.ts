// Soak (`npm run soak -- --minutes 30`): one server for N minutes at about 100 k ranges/s
// from monitored processes that come and go (2 to 12 threads, 5 to 20 s each), while a
// monitored Python program runs a fixed job over and over next to an unmonitored copy.
// Every 30 s: the server's RSS, the processes it holds, the intake, and the monitored job's
// wall and CPU time relative to the unmonitored one. Both must stay flat.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { paths } from '../server/config'
import { buildC, median, monitoredEnv, repoRoot, startTestServer } from '../test/helpers'
import { timeWorkload } from './python-overhead'
import { fmt, table } from './stats'

async function main () {
  const flag = process.argv.indexOf('--minutes')
  const given = process.argv.find((a) => a.startsWith('--minutes='))?.slice(10) ?? (flag >= 0 ? process.argv[flag + 1] : undefined)
  const minutes = Number(given ?? 30)
  if (!(minutes > 0)) {
    console.error(`soak: --minutes must be a positive number of minutes (got ${given}); e.g. npm run soak -- --minutes 30`)
    process.exit(2)
  }
  const flood = buildC(path.join(repoRoot, 'bench', 'nvtx_flood.c'))
  const server = await startTestServer()
  // The interpreter itself, not a wrapper script (a pyenv shim would add its own start-up to both runs).
  const python = execFileSync(process.env.SOAK_PYTHON ?? 'python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim()
  const end = Date.now() + minutes * 60_000
  const live = new Set<ChildProcess>()

  // Churn: keep about 100 k ranges/s coming from processes that start and stop.
  const churn = setInterval(() => {
    if (live.size >= 6) return
    const threads = 2 + Math.floor(Math.random() * 11)
    const seconds = 5 + Math.random() * 15
    const child = spawn(flood, [String(100_000 / 5), String(seconds), String(threads)], { env: monitoredEnv(server.socket), stdio: 'ignore' })
    live.add(child)
    child.on('exit', () => live.delete(child))
  }, 1000)

  // The same job monitored and not, back to back: wall time, and the process's own CPU
  // time (less sensitive to what else the 2 cores are doing).
  const jobTimes: Array<{ at: number, wall: number, cpu: number }> = []
  const monitored = { name: 'monitored', python, env: monitoredEnv(server.socket, { PYTHONPATH: paths.pythonHook, LD_PRELOAD: paths.probeLibrary }) }
  const plain = { name: 'plain', python, env: { ...process.env, LD_PRELOAD: '', NVTX_INJECTION64_PATH: '' } }
  const jobs = (async () => {
    while (Date.now() < end) {
      const a = await timeWorkload(monitored, 'realistic.py', 0.5)
      const b = await timeWorkload(plain, 'realistic.py', 0.5)
      jobTimes.push({ at: Date.now(), wall: a.wall / b.wall, cpu: a.cpu / b.cpu })
    }
  })()

  const header = ['minute', 'server RSS MiB', 'live processes', 'known processes', 'k ranges/s', 'job wall ÷ plain', 'job CPU ÷ plain (medians, last minute)']
  console.log(header.join('\t'))
  const rows: string[][] = []
  const start = Date.now()
  let lastRanges = 0
  let lastAt = Date.now()
  while (Date.now() < end) {
    await new Promise((resolve) => setTimeout(resolve, 30_000))
    const counters = server.store.counters()
    const processes = server.store.processes()
    const now = Date.now()
    const recent = jobTimes.filter((j) => j.at > now - 60_000)
    const ratio = (pick: (j: typeof recent[number]) => number) => recent.length ? `${fmt(median(recent.map(pick)), 3)}x` : '—'
    rows.push([
      fmt((now - start) / 60_000, 1),
      fmt(process.memoryUsage().rss / 2 ** 20, 0),
      String(processes.filter((p) => p.state === 'connected').length),
      String(processes.length),
      fmt((counters.rangesReceived - lastRanges) / ((now - lastAt) / 1000) / 1000, 0),
      ratio((j) => j.wall),
      ratio((j) => j.cpu)
    ])
    lastRanges = counters.rangesReceived
    lastAt = now
    console.log(rows[rows.length - 1].join('\t'))
  }
  clearInterval(churn)
  await jobs
  for (const child of live) child.kill()
  await server.close()
  console.log(`\nSoak: ${minutes} min, ~100 k ranges/s from processes that come and go\n`)
  console.log(table(header, rows))
}

main().catch((error) => { console.error(error); process.exit(1) })
