// Bench: /metrics render time with 100 processes × 50 threads, next to rendering prom-client's
// default metrics alone in the same process (the baseline).
import { Registry, collectDefaultMetrics } from 'prom-client'
import { createMetrics } from '../server/metrics'
import { RecordKind, StringKind, encodeHello, encodeRecords, encodeStatus, encodeString, encodeThread, PayloadType, type WireRecord } from '../server/protocol'
import { Store } from '../server/store'
import { fmt, spread, summarize } from './stats'

function fill (store: Store, processes: number, threads: number): void {
  for (let p = 0; p < processes; p++) {
    const c = store.openConnection('test')
    const frames = [
      encodeHello({ pid: 10_000 + p, instance: BigInt(p + 1), monotonicNs: 0n, realtimeNs: BigInt(Date.now()) * 1_000_000n, service: `svc-${p % 10}` }),
      encodeString(StringKind.DOMAIN, 1, 'GIL NVTX Domain'),
      encodeString(StringKind.MESSAGE, 2, 'Holding GIL'),
      encodeString(StringKind.MESSAGE, 3, 'Waiting for GIL'),
      encodeString(StringKind.DOMAIN, 4, 'app'),
      ...Array.from({ length: 5 }, (_, m) => encodeString(StringKind.MESSAGE, 10 + m, `request-${m}`))
    ]
    let clock = 1_000_000n
    for (let t = 1; t <= threads; t++) {
      frames.push(encodeThread(t, 100_000 + t, `worker-${t}`))
      const records: WireRecord[] = []
      for (let i = 0; i < 20; i++) {
        const gil = { domain: 1, payloadType: PayloadType.INT64, payload: 0n }
        records.push({ kind: RecordKind.RANGE, ...gil, message: 3, startNs: clock, endNs: clock + 2000n })
        records.push({ kind: RecordKind.RANGE, ...gil, message: 2, startNs: clock + 2000n, endNs: clock + 9000n })
        records.push({ kind: RecordKind.RANGE, domain: 4, message: 10 + (i % 5), startNs: clock, endNs: clock + 50_000n })
        clock += 10_000n
      }
      frames.push(encodeRecords(t, records))
    }
    frames.push(encodeStatus(clock))
    const error = store.feed(c, Buffer.concat(frames))
    if (error) throw new Error(`${error.code}: ${error.message}`)
  }
}

export async function benchMetricsRender (quick: boolean): Promise<string> {
  const store = new Store()
  fill(store, 100, 50)
  const metrics = createMetrics(store)
  const baseline = new Registry()
  collectDefaultMetrics({ register: baseline })
  const rounds = quick ? 5 : 21
  const times: number[] = []
  const baseTimes: number[] = []
  const snapshotTimes: number[] = []
  let size = 0
  for (let r = 0; r < rounds; r++) {
    let t0 = process.hrtime.bigint()
    size = (await metrics.render()).length
    times.push(Number(process.hrtime.bigint() - t0) / 1e6)
    t0 = process.hrtime.bigint()
    store.metrics()
    snapshotTimes.push(Number(process.hrtime.bigint() - t0) / 1e6)
    t0 = process.hrtime.bigint()
    await baseline.metrics()
    baseTimes.push(Number(process.hrtime.bigint() - t0) / 1e6)
  }
  store.close()
  const t = summarize(times.slice(1)) // the first render warms up the JIT
  const b = summarize(baseTimes.slice(1))
  return [
    `/metrics with 100 processes × 50 threads (${fmt(size / 1024, 0)} KiB of exposition, ${rounds - 1} renders)`,
    `  render:   ${spread(t)} ms   (target: well under 100 ms)`,
    `  of which the native snapshot: ${spread(summarize(snapshotTimes.slice(1)))} ms`,
    `  baseline: ${spread(b)} ms   prom-client default metrics alone`
  ].join('\n')
}
