// Bench 2: what monitoring costs a threaded Python program. Same workload, same CPython
// version: stock vs patched without injection vs patched + gilwatch vs stock + probe +
// gilwatch. Runs are interleaved and each ratio is taken within one round.
import fs from 'node:fs'
import path from 'node:path'
import { paths } from '../server/config'
import { buildPython } from '../server/cli/python-build'
import { monitoredEnv, repoRoot, run, startTestServer } from '../test/helpers'
import { fmt, summarize, table } from './stats'

export interface PythonConfig { name: string, python: string, env: NodeJS.ProcessEnv }

// Wall seconds the workload reports, and the CPU seconds (user + system) of its process from
// /usr/bin/time: on this 2-core machine the server and the app share the CPUs, so wall time
// includes the server's work and CPU time shows the app's own cost.
export async function timeWorkload (config: PythonConfig, workload: string, scale: number): Promise<{ wall: number, cpu: number }> {
  if (!fs.existsSync('/usr/bin/time')) throw new Error('this benchmark needs /usr/bin/time for CPU times: apt-get install time')
  const result = await run('/usr/bin/time', ['-f', 'cpu %U %S', config.python, path.join(repoRoot, 'bench', 'workloads', workload), String(scale)], config.env, 600_000)
  if (result.code !== 0) throw new Error(`${config.name} ${workload}: ${result.stderr}`)
  const [, user, system] = /cpu ([\d.]+) ([\d.]+)/.exec(result.stderr)!
  return { wall: Number(result.stdout.trim().split('\n').pop()), cpu: Number(user) + Number(system) }
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
    const rounds = quick ? 3 : 11
    const scales: Record<string, number> = quick ? { 'realistic.py': 0.5, 'switch_storm.py': 0.3 } : { 'realistic.py': 3, 'switch_storm.py': 1 }
    const out: string[] = []
    for (const workload of ['realistic.py', 'switch_storm.py']) {
      const times = new Map<string, number[]>(configs.map((c) => [c.name, []]))
      const ratios = new Map<string, number[]>(configs.map((c) => [c.name, []]))
      const cpuRatios = new Map<string, number[]>(configs.map((c) => [c.name, []]))
      for (let r = 0; r < rounds; r++) {
        let baseline = { wall: 0, cpu: 0 }
        for (const config of configs) {
          const t = await timeWorkload(config, workload, scales[workload])
          if (config.name === 'stock') baseline = t
          times.get(config.name)!.push(t.wall)
          ratios.get(config.name)!.push(t.wall / baseline.wall)
          cpuRatios.get(config.name)!.push(t.cpu / baseline.cpu)
        }
      }
      const percent = (ratio: number) => `${ratio >= 1 ? '+' : ''}${fmt((ratio - 1) * 100, 1)} %`
      const rows = configs.map((c) => {
        const t = summarize(times.get(c.name)!)
        const ratio = summarize(ratios.get(c.name)!)
        const cpu = summarize(cpuRatios.get(c.name)!)
        return [c.name, `${fmt(t.median, 3)} [${fmt(t.min, 3)}–${fmt(t.max, 3)}]`,
          c.name === 'stock' ? '—' : `${percent(ratio.median)} [${percent(ratio.min)}, ${percent(ratio.max)}]`,
          c.name === 'stock' ? '—' : percent(cpu.median)]
      })
      out.push(`Python ${minor}, ${workload} (median [min–max] of ${rounds} interleaved rounds; ratios to stock within each round)`)
      out.push(table(['interpreter', 'wall seconds', 'wall vs stock', 'app CPU vs stock'], rows))
      out.push('')
    }
    return out.join('\n').trimEnd()
  } finally {
    await server.close()
  }
}
