// `report` and `export` on big recordings: wall time and peak RSS of the command, each at a
// size N and 2N, so the ratio says whether the cost is linear (2.0) or worse. The
// recordings are written by the real Recorder (test/helpers.ts: writeSyntheticRecording).
import fs from 'node:fs'
import path from 'node:path'
import { gilwatchCli, peakRssMb, tempDir, writeSyntheticRecording } from '../test/helpers'
import { fmt, table } from './stats'

interface Run { ms: number, peakMb: number, inMb: number, outMb: number }

async function measure (args: string[], input: string, output?: string): Promise<Run> {
  const started = performance.now()
  const command = gilwatchCli(args, process.env, 1_800_000)
  const peakMb = await peakRssMb(command.child, command)
  const result = await command
  if (result.code !== 0) throw new Error(`gilwatch ${args.join(' ')}: ${result.stderr}`)
  const ms = performance.now() - started
  const outMb = output ? fs.statSync(output).size / 2 ** 20 : Buffer.byteLength(result.stdout) / 2 ** 20
  return { ms, peakMb, inMb: fs.statSync(input).size / 2 ** 20, outMb }
}

export async function benchRecordings (quick: boolean): Promise<string> {
  const dir = tempDir('gilwatch-bench-')
  const processes = quick ? 10_000 : 50_000
  const ranges = quick ? 500_000 : 2_500_000
  const rows: string[][] = []
  try {
    const reports: Run[] = []
    for (const n of [processes, 2 * processes]) {
      const file = path.join(dir, `processes-${n}.gwrec`)
      writeSyntheticRecording(file, n, 1)
      reports.push(await measure(['report', file, '--json'], file))
      rows.push([`report: ${n} processes`, fmt(reports.at(-1)!.inMb, 0), fmt(reports.at(-1)!.ms / 1000, 2), fmt(reports.at(-1)!.peakMb, 0), fmt(reports.at(-1)!.outMb, 0)])
      fs.rmSync(file)
    }
    const exports: Run[] = []
    for (const n of [ranges, 2 * ranges]) {
      const file = path.join(dir, `ranges-${n}.gwrec`)
      const out = path.join(dir, `trace-${n}.json`)
      writeSyntheticRecording(file, 1, n)
      exports.push(await measure(['export', file, '--perfetto', out], file, out))
      rows.push([`export: ${n} ranges`, fmt(exports.at(-1)!.inMb, 0), fmt(exports.at(-1)!.ms / 1000, 2), fmt(exports.at(-1)!.peakMb, 0), fmt(exports.at(-1)!.outMb, 0)])
      fs.rmSync(file)
      fs.rmSync(out)
    }
    const ratio = (runs: Run[], key: 'ms' | 'peakMb') => fmt(runs[1][key] / runs[0][key], 2)
    return [
      'Recordings: `report` and `export` at N and 2N (one run each; linear time is a ratio of 2.0)',
      table(['command', 'recording MiB', 'wall s', 'peak RSS MiB', 'output MiB'], rows),
      `2N / N: report time ${ratio(reports, 'ms')}, peak RSS ${ratio(reports, 'peakMb')}; export time ${ratio(exports, 'ms')}, peak RSS ${ratio(exports, 'peakMb')}`
    ].join('\n')
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
