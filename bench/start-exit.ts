// What monitoring adds to a process's start and exit: `python3 -c 'import threading'` (stock
// CPython 3.11) plain, monitored (the probe, the injection and the thread-name hook, as
// `gilwatch run` sets them up) with the server reading, and monitored with the server stopped
// (SIGSTOP): exit must not wait for a server that does not read. Rounds of 10 runs of each,
// interleaved; per process, the difference to the plain runs of the same round.
import { spawnSync } from 'node:child_process'
import { paths } from '../server/config'
import { STOCK_PYTHON, monitoredEnv, startServeProcess } from '../test/helpers'
import { fmt, medianInterval, summarize, table } from './stats'

function timeRuns (env: NodeJS.ProcessEnv, runs: number): number {
  const started = process.hrtime.bigint()
  for (let i = 0; i < runs; i++) {
    const result = spawnSync(STOCK_PYTHON, ['-c', 'import threading'], { env, stdio: 'ignore' })
    if (result.status !== 0) throw new Error(`python exited with ${result.status}`)
  }
  return Number(process.hrtime.bigint() - started) / 1e6 / runs
}

export async function benchStartExit (quick: boolean): Promise<string> {
  const server = await startServeProcess()
  const stalled = await startServeProcess()
  try {
    const plain = { ...process.env, NVTX_INJECTION64_PATH: '', LD_PRELOAD: '', PYTHONPATH: '' }
    const monitored = (socket: string) => monitoredEnv(socket, { LD_PRELOAD: paths.probeLibrary, PYTHONPATH: paths.pythonHook })
    stalled.signal('SIGSTOP')
    const rounds = quick ? 5 : 41
    const runs = 10
    const base: number[] = []
    const added = { reading: [] as number[], stopped: [] as number[] }
    for (let r = 0; r < rounds; r++) {
      const b = timeRuns(plain, runs)
      base.push(b)
      added.reading.push(timeRuns(monitored(server.socket), runs) - b)
      added.stopped.push(timeRuns(monitored(stalled.socket), runs) - b)
    }
    const b = summarize(base)
    const row = (name: string, values: number[]) => {
      const s = summarize(values)
      const ci = medianInterval(values)
      return [name, `+${fmt(s.median, 2)}`, `[${fmt(ci.low, 2)}, ${fmt(ci.high, 2)}]`, `[${fmt(s.min, 2)}, ${fmt(s.max, 2)}]`]
    }
    return [
      `Start + exit of a monitored process (python3.11 -c 'import threading'; ${rounds} interleaved rounds of ${runs} runs)`,
      `  plain: ${fmt(b.median, 2)} ms per process [${fmt(b.min, 2)}–${fmt(b.max, 2)}]`,
      table(['monitored', 'added ms (median)', '95 % interval of the median', 'min, max'], [
        row('server reading', added.reading),
        row('server stopped (SIGSTOP)', added.stopped)
      ]),
      '  target: ≤ 2 ms added'
    ].join('\n')
  } finally {
    stalled.signal('SIGCONT')
    await stalled.stop()
    await server.stop()
  }
}
