// Bench: the server memory a soak's history costs. 10 processes × 50 threads are fed 24 h of
// their clock, accelerated (a step of 10 s: each thread one 2 ms hold and one 1 ms wait; every
// minute one long hold, up to 500 ms, so the worst holds fill with their snapshots; its totals
// for the threads' history), once with the default tiers (series 1 s × 3600, 60 s × 1440,
// 600 s × 4320; threads 10 s × 360, 60 s × 1440, 600 s × 4320) and once with the history cut to
// a slot per tier. Each in a process of its own: the RSS growth of each, and their difference,
// which is the history's cost. Printed, never asserted.
import { execFileSync } from 'node:child_process'
import { RecordKind, StringKind, encodeGilTotals, encodeHello, encodeRecords, encodeStatus, encodeString, encodeThread, PayloadType, type WireRecord } from '../server/protocol'
import { Store } from '../server/store'
import { table } from './stats'

const PROCESSES = 10
const THREADS = 50
const STEP_NS = 10_000_000_000n

function feed (store: Store, hours: number): void {
  const steps = Math.round(hours * 3600 * 1e9 / Number(STEP_NS))
  const connections = Array.from({ length: PROCESSES }, (_, p) => {
    const c = store.openConnection('bench')
    const frames = [
      encodeHello({ pid: 20_000 + p, instance: BigInt(p + 1), monotonicNs: 1_000_000_000n, realtimeNs: BigInt(Date.now()) * 1_000_000n, service: `soak-${p}` }),
      encodeString(StringKind.DOMAIN, 1, 'GIL NVTX Domain'), encodeString(StringKind.MESSAGE, 2, 'Holding GIL'), encodeString(StringKind.MESSAGE, 3, 'Waiting for GIL'),
      ...Array.from({ length: THREADS }, (_, t) => encodeThread(t + 1, 30_000 + t, `worker-${t}`))
    ]
    const error = store.feed(c, Buffer.concat(frames))
    if (error) throw new Error(`${error.code}: ${error.message}`)
    return c
  })
  const gil = { domain: 1, payloadType: PayloadType.INT64, payload: 0n }
  for (let s = 0; s < steps; s++) {
    const at = 2_000_000_000n + BigInt(s) * STEP_NS
    for (const [p, c] of connections.entries()) {
      const frames: Buffer[] = []
      for (let t = 1; t <= THREADS; t++) {
        const start = at + BigInt(t) * 10_000_000n
        const records: WireRecord[] = [
          { kind: RecordKind.RANGE, ...gil, message: 3, startNs: start, endNs: start + 1_000_000n },
          { kind: RecordKind.RANGE, ...gil, message: 2, startNs: start + 1_000_000n, endNs: start + 3_000_000n }
        ]
        if (t === 1 && s % 6 === p % 6) { // a long hold a minute, of a length that varies
          const long = BigInt(10 + ((s * 7919) % 490)) * 1_000_000n
          records.push({ kind: RecordKind.RANGE, ...gil, message: 2, startNs: at + 5_000_000_000n, endNs: at + 5_000_000_000n + long })
        }
        frames.push(encodeRecords(t, records))
        // Its totals (the threads' history): one hold and one wait more each step.
        const n = BigInt(s + 1)
        frames.push(encodeGilTotals(t, [{ holds: n, contendedHolds: n, holdNs: n * 2_000_000n, waits: n, waitNs: n * 1_000_000n }]))
      }
      frames.push(encodeStatus(at + STEP_NS - 1n))
      const error = store.feed(c, Buffer.concat(frames))
      if (error) throw new Error(`${error.code}: ${error.message}`)
    }
  }
}

// The child: feeds, then prints its RSS growth in MB.
function child (tiers: 'default' | 'minimal', hours: number): void {
  const store = new Store({
    retireAfterMs: 1e12,
    frozen: true,
    seriesTiers: tiers === 'minimal' ? [{ widthS: 1, slots: 1 }, { widthS: 60, slots: 1 }, { widthS: 600, slots: 1 }] : undefined,
    threadTiers: tiers === 'minimal' ? [{ widthS: 10, slots: 1 }, { widthS: 60, slots: 1 }, { widthS: 600, slots: 1 }] : undefined
  })
  global.gc?.()
  const before = process.memoryUsage().rss
  feed(store, hours)
  global.gc?.()
  const worst = store.list().reduce((n, p) => n + (store.worstHolds(p.instance, 100)?.length ?? 0), 0)
  process.stdout.write(JSON.stringify({ mb: (process.memoryUsage().rss - before) / 2 ** 20, worst }))
}

export function benchHistoryMemory (quick: boolean): string {
  const hours = quick ? 2 : 24
  const run = (tiers: string) => JSON.parse(execFileSync(process.execPath, ['--expose-gc', __filename, 'child', tiers, String(hours)], { encoding: 'utf8', maxBuffer: 1 << 20 })) as { mb: number, worst: number }
  const full = run('default')
  const cut = run('minimal')
  return `History memory: ${PROCESSES} processes × ${THREADS} threads, ${hours} h of their clock (steps of 10 s, a long hold a minute)\n` + table(
    ['history', 'server RSS growth', 'worst holds kept'],
    [['default tiers', `${full.mb.toFixed(1)} MB`, String(full.worst)],
      ['a slot per tier', `${cut.mb.toFixed(1)} MB`, String(cut.worst)],
      ['the history\'s cost', `${(full.mb - cut.mb).toFixed(1)} MB`, 'target ≤ 100 MB with the rest']])
}

if (require.main === module && process.argv[2] === 'child') child(process.argv[3] as 'default' | 'minimal', Number(process.argv[4]))
