// Bench 2: what monitoring costs a threaded Python program. Same workload, same CPython
// version: stock vs patched without injection vs patched + gilwatch vs stock + probe +
// gilwatch. Runs are interleaved and each ratio is taken within one round.
import path from 'node:path'
import { paths } from '../server/config'
import { buildPython } from '../server/python-build'
import { monitoredEnv, repoRoot, run, startTestServer } from '../test/helpers'
import { fmt, summarize, table } from './stats'

export interface PythonConfig { name: string, python: string, env: NodeJS.ProcessEnv }

async function elapsed (config: PythonConfig, workload: string, scale: number): Promise<number> {
  const result = await run(config.python, [path.join(repoRoot, 'bench', 'workloads', workload), String(scale)], config.env, 600_000)
  if (result.code !== 0) throw new Error(`${config.name} ${workload}: ${result.stderr}`)
  return Number(result.stdout.trim().split('\n').pop())
}

export async function pythonConfigs (minor: string, socket: string): Promise<PythonConfig[]> {
  const log = (line: string) => process.stderr.write(`  python ${minor}: ${line}\n`)
  const stock = await buildPython({ minor, stock: true, log })
  const patched = await buildPython({ minor, log })
  const plain = { ...process.env, NVTX_INJECTION64_PATH: '', PYTHONPATH: '' }
  return [
    { name: 'stock', python: stock.python, env: plain },
    { name: 'patched, no injection', python: patched.python, env: plain },
    { name: 'patched + gilwatch', python: patched.python, env: monitoredEnv(socket, { PYTHONPATH: paths.pythonHook }) },
    {
      name: 'stock + probe + gilwatch',
      python: stock.python,
      env: monitoredEnv(socket, { PYTHONPATH: paths.pythonHook, LD_PRELOAD: paths.probeLibrary })
    }
  ]
}

export async function benchPythonOverhead (quick: boolean, minor = '3.11', extra: PythonConfig[] = []): Promise<string> {
  const server = await startTestServer()
  try {
    const configs = [...await pythonConfigs(minor, server.socket), ...extra]
    const rounds = quick ? 3 : 7
    const scales: Record<string, number> = quick ? { 'realistic.py': 0.5, 'switch_storm.py': 0.3 } : { 'realistic.py': 3, 'switch_storm.py': 1 }
    const out: string[] = []
    for (const workload of ['realistic.py', 'switch_storm.py']) {
      const times = new Map<string, number[]>(configs.map((c) => [c.name, []]))
      const ratios = new Map<string, number[]>(configs.map((c) => [c.name, []]))
      for (let r = 0; r < rounds; r++) {
        let baseline = 0
        for (const config of configs) {
          const t = await elapsed(config, workload, scales[workload])
          if (config.name === 'stock') baseline = t
          times.get(config.name)!.push(t)
          ratios.get(config.name)!.push(t / baseline)
        }
      }
      const rows = configs.map((c) => {
        const t = summarize(times.get(c.name)!)
        const ratio = summarize(ratios.get(c.name)!)
        const slowdown = (ratio.median - 1) * 100
        return [c.name, `${fmt(t.median, 3)} [${fmt(t.min, 3)}–${fmt(t.max, 3)}]`, `${fmt(ratio.median, 3)}x`,
          c.name === 'stock' ? '—' : `${slowdown >= 0 ? '+' : ''}${fmt(slowdown, 1)} %`]
      })
      out.push(`Python ${minor}, ${workload} (seconds, median [min–max] of ${rounds} interleaved rounds; ratio to stock within each round)`)
      out.push(table(['interpreter', 'seconds', 'vs stock', 'slowdown'], rows))
      out.push('')
    }
    return out.join('\n').trimEnd()
  } finally {
    await server.close()
  }
}
