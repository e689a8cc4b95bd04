// Bench: added process CPU per GIL hold (release + re-take), the cost that transfers to any
// workload. One thread (and eight, contended) makes N os.read calls; the loop's process CPU
// time, measured inside the workload after a warm-up and including the sender thread, is
// compared with the same interpreter unmonitored in the same round. Rounds are interleaved.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { paths } from '../server/config'
import { buildPython } from '../server/cli/python-build'
import { monitoredEnv, repoRoot, run, startTestServer } from '../test/helpers'
import { fmt, medianInterval, summarize, table } from './stats'

interface Config { name: string, python: string, env: NodeJS.ProcessEnv, baseline: string }

interface LoopCost { loop: number, whole: number } // process CPU seconds: the loop's, the whole process's

async function loopCpu (config: Config, holds: number, threads: number): Promise<LoopCost> {
  const script = path.join(repoRoot, 'bench', 'workloads', 'read_holds.py')
  const result = await run(config.python, [script, String(holds), String(threads)], config.env, 300_000)
  if (result.code !== 0) throw new Error(`${config.name}: ${result.stderr}`)
  const [loop, , whole] = result.stdout.trim().split(' ').map(Number)
  return { loop, whole }
}

// The sender thread's share of one core in a process that does nothing: its own
// schedstat (ns on CPU), read after `seconds` of idling.
async function idleSenderShare (config: Config, seconds: number): Promise<string> {
  const child = spawn(config.python, ['-c', `import threading, time; threading.Thread(target=lambda: None).start(); time.sleep(${seconds + 2})`],
    { env: config.env, stdio: 'ignore' })
  try {
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const sender = () => {
      for (const tid of fs.readdirSync(`/proc/${child.pid}/task`)) {
        const comm = fs.readFileSync(`/proc/${child.pid}/task/${tid}/comm`, 'utf8').trim()
        if (comm === 'gilwatch-send') return Number(fs.readFileSync(`/proc/${child.pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0])
      }
      throw new Error('no gilwatch-send thread in the idle process')
    }
    const before = sender()
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
    const used = sender() - before
    return `Idle process (${config.name}): the sender thread used ${fmt(used / (seconds * 1e9) * 100, 3)} % of one core ` +
      `(${fmt(used / seconds / 1e6, 2)} ms per second, ${seconds} s)`
  } finally {
    child.kill()
  }
}

export async function benchHoldCost (quick: boolean, minor = '3.11'): Promise<string> {
  const server = await startTestServer()
  try {
    const log = (line: string) => process.stderr.write(`  python ${minor}: ${line}\n`)
    const stock = (await buildPython({ minor, stock: true, log })).python
    const patched = (await buildPython({ minor, log })).python
    const plain = { ...process.env, NVTX_INJECTION64_PATH: '', PYTHONPATH: '', LD_PRELOAD: '' }
    const hook = { PYTHONPATH: paths.pythonHook }
    const configs: Config[] = [
      { name: 'stock', python: stock, env: plain, baseline: 'stock' },
      { name: 'stock + probe + gilwatch', python: stock, env: monitoredEnv(server.socket, { ...hook, LD_PRELOAD: paths.probeLibrary }), baseline: 'stock' },
      { name: 'patched, no injection', python: patched, env: plain, baseline: 'patched, no injection' },
      { name: 'patched + gilwatch', python: patched, env: monitoredEnv(server.socket, hook), baseline: 'patched, no injection' }
    ]
    // Enough holds that a round lasts about a second, enough rounds that the 95 % interval
    // of the median added cost is narrower than the goal (100 ns); paired within a round.
    const rounds = quick ? 5 : 21
    const holds = quick ? 200_000 : 1_000_000
    const out: string[] = []
    for (const threads of [1, 8]) {
      const perHold = new Map<string, number[]>(configs.map((c) => [c.name, []]))
      const added = new Map<string, number[]>(configs.map((c) => [c.name, []]))
      const addedWhole = new Map<string, number[]>(configs.map((c) => [c.name, []]))
      for (let r = 0; r < rounds; r++) {
        const cost = new Map<string, LoopCost>()
        for (const config of configs) cost.set(config.name, await loopCpu(config, holds, threads))
        for (const config of configs) {
          const mine = cost.get(config.name)!
          const base = cost.get(config.baseline)!
          perHold.get(config.name)!.push(mine.loop / holds * 1e9)
          added.get(config.name)!.push((mine.loop - base.loop) / holds * 1e9)
          addedWhole.get(config.name)!.push((mine.whole - base.whole) / holds * 1e9)
        }
      }
      const rows = configs.map((c) => {
        const own = summarize(perHold.get(c.name)!)
        if (c.baseline === c.name) return [c.name, `${fmt(own.median, 0)} [${fmt(own.min, 0)}–${fmt(own.max, 0)}]`, '—', '—']
        const extra = summarize(added.get(c.name)!)
        const ci = medianInterval(added.get(c.name)!)
        const whole = summarize(addedWhole.get(c.name)!)
        return [c.name, `${fmt(own.median, 0)} [${fmt(own.min, 0)}–${fmt(own.max, 0)}]`,
          `${fmt(extra.median, 0)} [${fmt(ci.low, 0)}, ${fmt(ci.high, 0)}] vs ${c.baseline}`, fmt(whole.median, 0)]
      })
      out.push(`CPython ${minor}: process CPU per GIL hold, ${threads === 1 ? 'one thread (uncontended)' : '8 threads (contended)'}, ` +
        `${holds} os.read calls (ns; median [min–max] of ${rounds} interleaved rounds; added: median [95 % interval] of the paired differences; ` +
        'whole process: the same from getrusage, start-up included)')
      out.push(table(['interpreter', 'CPU per hold', 'added per hold', 'added, whole process'], rows))
      out.push('')
    }
    out.push(await idleSenderShare(configs[1], quick ? 3 : 10))
    return out.join('\n').trimEnd()
  } finally {
    await server.close()
  }
}
