// Bench 1: ns per NVTX push+pop pair: no injection vs a clock-only injection vs gilwatch,
// against one clock_gettime(CLOCK_MONOTONIC) measured in the same process.
import path from 'node:path'
import { paths } from '../server/config'
import { buildC, monitoredEnv, repoRoot, run, startTestServer } from '../test/helpers'
import { spread, summarize, table, fmt } from './stats'

interface Round { clockNs: number, pairNs: number }

async function rounds (program: string, env: NodeJS.ProcessEnv, args: string[]): Promise<Round[]> {
  const result = await run(program, args, env, 600_000)
  if (result.code !== 0) throw new Error(`${program} failed: ${result.stderr}`)
  return result.stdout.trim().split('\n').map((line) => {
    const [, clock, pair] = /clock_ns=([\d.]+) pair_ns=([\d.]+)/.exec(line)!
    return { clockNs: Number(clock), pairNs: Number(pair) }
  })
}

export async function benchNvtxCost (quick: boolean): Promise<string> {
  const program = buildC(path.join(repoRoot, 'bench', 'nvtx_cost.c'))
  const clockOnly = buildC(path.join(repoRoot, 'bench', 'clock_only_injection.c'), { shared: true })
  const server = await startTestServer()
  const repetitions = quick ? 2 : 5
  const args = ['3', quick ? '20' : '50', '2000']
  const modes: Array<[string, NodeJS.ProcessEnv]> = [
    ['no injection', { ...process.env, NVTX_INJECTION64_PATH: '' }],
    ['clock-only injection', { ...process.env, NVTX_INJECTION64_PATH: clockOnly }],
    ['gilwatch', monitoredEnv(server.socket)]
  ]
  const results = new Map<string, Round[]>(modes.map(([name]) => [name, []]))
  try {
    // Interleave the modes so drift in machine load hits all of them alike.
    for (let r = 0; r < repetitions; r++) {
      for (const [name, env] of modes) results.get(name)!.push(...await rounds(program, env, args))
    }
    const dropped = (await server.processes()).reduce((sum, p) => sum + p.droppedEvents, 0)
    const rows = modes.map(([name]) => {
      const list = results.get(name)!
      const pair = summarize(list.map((x) => x.pairNs))
      const perCallRatio = summarize(list.map((x) => x.pairNs / 2 / x.clockNs))
      return [name, spread(pair), spread(summarize(list.map((x) => x.pairNs / 2))), `${fmt(perCallRatio.median, 2)}x`]
    })
    const clock = summarize([...results.values()].flat().map((x) => x.clockNs))
    return [
      'NVTX push+pop in the GIL domain (ns, median [min–max] over rounds of ' +
        `${Number(args[1]) * 2000} pairs in bursts of 2000)`,
      `baseline: clock_gettime(CLOCK_MONOTONIC) = ${spread(clock)} ns per call, same processes`,
      table(['injection', 'ns/pair', 'ns/call', 'ns/call ÷ clock'], rows),
      `gilwatch target: ≤ 1.50x per call. Events dropped during the gilwatch runs: ${dropped} (0 = every pop took the full write path)`,
      `injection library: ${paths.injectionLibrary}`
    ].join('\n')
  } finally {
    await server.close()
  }
}
