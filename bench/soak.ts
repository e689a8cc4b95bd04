// Soak (`npm run soak -- --minutes 30`): one server for N minutes at about 100 k ranges/s
// from monitored processes that come and go (2 to 12 threads, 5 to 20 s each), while a
// monitored Python program runs a fixed job over and over next to an unmonitored copy.
// Every 30 s: the server's RSS, the processes it holds, the intake, and the monitored job's
// time relative to the unmonitored one. Both must stay flat.
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { paths } from '../server/config'
import { buildC, monitoredEnv, repoRoot, run, startTestServer } from '../test/helpers'
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
  const python = process.env.SOAK_PYTHON ?? 'python3'
  const job = path.join(repoRoot, 'bench', 'workloads', 'realistic.py')
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

  const jobTimes: Array<{ at: number, monitored: number, plain: number }> = []
  const jobs = (async () => {
    while (Date.now() < end) {
      const monitored = await run(python, [job, '0.5'], monitoredEnv(server.socket, { PYTHONPATH: paths.pythonHook, LD_PRELOAD: paths.probeLibrary }), 600_000)
      const plain = await run(python, [job, '0.5'], { ...process.env, LD_PRELOAD: '', NVTX_INJECTION64_PATH: '' }, 600_000)
      jobTimes.push({ at: Date.now(), monitored: Number(monitored.stdout.trim()), plain: Number(plain.stdout.trim()) })
    }
  })()

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
    const ratio = recent.length ? recent.reduce((n, j) => n + j.monitored / j.plain, 0) / recent.length : NaN
    rows.push([
      fmt((now - start) / 60_000, 1),
      fmt(process.memoryUsage().rss / 2 ** 20, 0),
      String(processes.filter((p) => p.state === 'connected').length),
      String(processes.length),
      fmt((counters.rangesReceived - lastRanges) / ((now - lastAt) / 1000) / 1000, 0),
      Number.isNaN(ratio) ? '—' : `${fmt(ratio, 3)}x`
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
  console.log(table(['minute', 'server RSS MiB', 'live processes', 'known processes', 'k ranges/s', 'monitored job ÷ plain (last minute)'], rows))
}

main().catch((error) => { console.error(error); process.exit(1) })
