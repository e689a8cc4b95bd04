// Bench: the probe in a non-Python program that hammers mutexes and condition variables
// (every pthread call goes through it), against the same program without it.
import path from 'node:path'
import { paths } from '../server/config'
import { buildC, repoRoot, run } from '../test/helpers'
import { fmt, summarize } from './stats'

export async function benchProbeOverhead (quick: boolean): Promise<string> {
  const hammer = buildC(path.join(repoRoot, 'test', 'fixtures', 'mutex_hammer.c'))
  const rounds = quick ? 3 : 9
  const ratios: number[] = []
  const plain: number[] = []
  const probed: number[] = []
  const seconds = (stdout: string) => Number(/seconds ([\d.]+)/.exec(stdout)![1])
  for (let r = 0; r < rounds; r++) {
    const a = await run(hammer, ['8', '200000'], { ...process.env, LD_PRELOAD: '' })
    const b = await run(hammer, ['8', '200000'], { ...process.env, LD_PRELOAD: paths.probeLibrary })
    if (a.code !== 0 || b.code !== 0) throw new Error('mutex_hammer failed')
    plain.push(seconds(a.stdout))
    probed.push(seconds(b.stdout))
    ratios.push(seconds(b.stdout) / seconds(a.stdout))
  }
  const ratio = summarize(ratios)
  return [
    `Probe in a mutex-heavy C program (mutex_hammer: 8 threads, 800 k queue operations; ${rounds} interleaved rounds)`,
    `  without: ${fmt(summarize(plain).median, 3)} s   with LD_PRELOAD probe: ${fmt(summarize(probed).median, 3)} s` +
      `   ratio ${fmt(ratio.median, 3)}x [${fmt(ratio.min, 3)}–${fmt(ratio.max, 3)}]`
  ].join('\n')
}
