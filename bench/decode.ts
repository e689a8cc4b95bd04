// Bench: ranges/s the server decodes and aggregates on one core (the native addon), against
// a plain copy of the same bytes in the same process (memory bandwidth baseline). The stream
// is what a sender writes: per tick, each thread's records and its cumulative GIL totals,
// then STATUS.
import {
  RecordKind, StringKind, encodeGilTotals, encodeHello, encodeRecords, encodeStatus, encodeString, encodeThread, type WireRecord
} from '../server/protocol'
import { Store } from '../server/store'
import { totalsFor } from '../test/helpers'
import { fmt, spread, summarize } from './stats'

function stream (threads: number, framesPerThread: number, recordsPerFrame: number): { hello: Buffer, body: Buffer, ranges: number } {
  const hello = Buffer.concat([
    encodeHello({ pid: 1, instance: 7n, monotonicNs: 0n, realtimeNs: 0n, service: 'bench' }),
    encodeString(StringKind.DOMAIN, 1, 'GIL NVTX Domain'),
    encodeString(StringKind.MESSAGE, 2, 'Holding GIL'),
    encodeString(StringKind.MESSAGE, 3, 'Waiting for GIL'),
    ...Array.from({ length: threads }, (_, t) => encodeThread(t + 1, 1000 + t, `worker-${t}`))
  ])
  const frames: Buffer[] = []
  let clock = 1_000_000n
  for (let f = 0; f < framesPerThread; f++) {
    for (let t = 1; t <= threads; t++) {
      const records: WireRecord[] = []
      for (let i = 0; i < recordsPerFrame; i++) {
        const waiting = i % 4 === 0
        records.push({ kind: RecordKind.RANGE, domain: 1, message: waiting ? 3 : 2, startNs: clock, endNs: clock + 5000n })
        clock += 5000n
      }
      frames.push(encodeRecords(t, records))
      // The thread's cumulative totals after this frame (5 µs holds and waits).
      const holds = (f + 1) * (recordsPerFrame - Math.ceil(recordsPerFrame / 4))
      const waits = (f + 1) * Math.ceil(recordsPerFrame / 4)
      frames.push(encodeGilTotals(t, [totalsFor(Array(holds).fill(5000), Array(waits).fill(5000))]))
    }
    frames.push(encodeStatus(clock))
  }
  return { hello, body: Buffer.concat(frames), ranges: threads * framesPerThread * recordsPerFrame }
}

export function benchDecode (quick: boolean): string {
  const { hello, body, ranges } = stream(8, 50, 2500)
  const chunk = 64 * 1024 // what a socket read delivers
  const repetitions = quick ? 3 : 9
  const decodeRates: number[] = []
  const copyRates: number[] = []
  const scratch = Buffer.alloc(chunk)
  for (let r = 0; r < repetitions; r++) {
    const store = new Store({ recentPerThread: 8192 })
    const c = store.openConnection('test')
    store.feed(c, hello)
    let t0 = process.hrtime.bigint()
    for (let at = 0; at < body.length; at += chunk) {
      const error = store.feed(c, body.subarray(at, at + chunk))
      if (error) throw new Error(`${error.code}: ${error.message}`)
    }
    let seconds = Number(process.hrtime.bigint() - t0) / 1e9
    decodeRates.push(ranges / seconds / 1e6)
    store.close()
    t0 = process.hrtime.bigint()
    for (let at = 0; at < body.length; at += chunk) body.copy(scratch, 0, at, Math.min(body.length, at + chunk))
    seconds = Number(process.hrtime.bigint() - t0) / 1e9
    copyRates.push(ranges / seconds / 1e6)
  }
  const decode = summarize(decodeRates)
  const copy = summarize(copyRates)
  return [
    `Server decode + aggregate, one core (${ranges / 1e6} M ranges in 64 KiB chunks, ${repetitions} runs)`,
    `  decode:   ${spread(decode)} M ranges/s   (target ≥ 10)`,
    `  baseline: ${spread(copy)} M ranges/s   plain copy of the same bytes`,
    `  decode costs ${fmt(copy.median / decode.median, 1)}x a copy`
  ].join('\n')
}
