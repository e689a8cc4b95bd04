// Bench: a thread-per-request HTTP service (ThreadingHTTPServer: one new thread per
// request) under a real load generator (ab), with and without gilwatch, the server on the
// same 2 cores. New threads are what this costs: the probe, the injection's per-thread
// setup, the server's per-thread work. Interleaved rounds, ratios within a round.
import { spawn, execFileSync } from 'node:child_process'
import path from 'node:path'
import { paths } from '../server/config'
import { STOCK_PYTHON, monitoredEnv, repoRoot, startTestServer } from '../test/helpers'
import { fmt, medianInterval, summarize, table } from './stats'

const PYTHON = STOCK_PYTHON

interface Load { rps: number, p50: number, p99: number }

async function measure (env: NodeJS.ProcessEnv, requests: number): Promise<Load> {
  const script = path.join(repoRoot, 'bench', 'workloads', 'threaded_http.py')
  const child = spawn(PYTHON, [script], { env, stdio: ['pipe', 'pipe', 'inherit'] })
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = ''
      child.stdout.on('data', (d) => { out += d; const m = /port (\d+)/.exec(out); if (m) resolve(Number(m[1])) })
      child.once('exit', (code) => reject(new Error(`the HTTP workload exited with ${code}`)))
    })
    const ab = (n: number) => execFileSync('ab', ['-q', '-n', String(n), '-c', '16', `http://127.0.0.1:${port}/`], { encoding: 'utf8' })
    ab(500) // warm-up
    const report = ab(requests)
    const rps = Number(/Requests per second:\s+([\d.]+)/.exec(report)![1])
    const percentile = (p: number) => Number(new RegExp(`^\\s+${p}%\\s+(\\d+)`, 'm').exec(report)![1])
    return { rps, p50: percentile(50), p99: percentile(99) }
  } finally {
    child.stdin.end()
    child.kill()
  }
}

export async function benchHttpThreads (quick: boolean): Promise<string> {
  try { execFileSync('sh', ['-c', 'command -v ab'], { stdio: 'ignore' }) } catch {
    return 'http: skipped, needs ab (apt-get install apache2-utils)'
  }
  const server = await startTestServer()
  try {
    const configs = [
      { name: 'stock CPython 3.11', env: { ...process.env, NVTX_INJECTION64_PATH: '', LD_PRELOAD: '', PYTHONPATH: '' } },
      { name: '+ probe + gilwatch', env: monitoredEnv(server.socket, { LD_PRELOAD: paths.probeLibrary, PYTHONPATH: paths.pythonHook }) }
    ]
    // Short rounds, many of them: the ratio's 95 % interval must be narrower than the 3 % goal.
    const rounds = quick ? 3 : 31
    const requests = quick ? 2000 : 4000
    const loads = new Map<string, Load[]>(configs.map((c) => [c.name, []]))
    const ratios: number[] = []
    for (let r = 0; r < rounds; r++) {
      const round = []
      for (const config of configs) {
        const load = await measure(config.env, requests)
        loads.get(config.name)!.push(load)
        round.push(load)
      }
      ratios.push(round[1].rps / round[0].rps)
    }
    const rows = configs.map((c, i) => {
      const l = loads.get(c.name)!
      const rps = summarize(l.map((x) => x.rps))
      const ratio = summarize(ratios)
      const ci = medianInterval(ratios)
      return [c.name, `${fmt(rps.median, 0)} [${fmt(rps.min, 0)}–${fmt(rps.max, 0)}]`,
        `${summarize(l.map((x) => x.p50)).median} / ${summarize(l.map((x) => x.p99)).median}`,
        i === 0 ? '—' : `${fmt(ratio.median, 3)} [${fmt(ci.low, 3)}, ${fmt(ci.high, 3)}]`]
    })
    return [`ThreadingHTTPServer (a thread per request), ab -n ${requests} -c 16, ${rounds} interleaved rounds`,
      table(['service', 'req/s median [min–max]', 'p50 / p99 ms', 'monitored ÷ stock, median [95 % interval]'], rows),
      '  goal: ≥ 0.97'].join('\n')
  } finally {
    await server.close()
  }
}
