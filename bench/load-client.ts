// A synthetic monitored process at a fixed rate, for the dashboard load bench: THREADS
// threads, RATE ranges/s in total (alternating waits and holds), on the real clock.
import net from 'node:net'
import { RecordKind, StringKind, encodeHello, encodeRecords, encodeStatus, encodeString, encodeThread, type WireRecord } from '../server/protocol'

const [socketPath, threadsText, rateText, secondsText] = process.argv.slice(2)
const threads = Number(threadsText)
const perTick = Math.round(Number(rateText) / 10 / threads) // every 100 ms, per thread
const deadline = Date.now() + Number(secondsText) * 1000
const now = () => process.hrtime.bigint()

const socket = net.connect(socketPath, () => {
  socket.write(Buffer.concat([
    encodeHello({ pid: process.pid, instance: BigInt(process.pid), monotonicNs: now(), realtimeNs: BigInt(Date.now()) * 1000000n, service: 'load' }),
    encodeString(StringKind.DOMAIN, 1, 'GIL NVTX Domain'),
    encodeString(StringKind.MESSAGE, 2, 'Holding GIL'),
    encodeString(StringKind.MESSAGE, 3, 'Waiting for GIL'),
    ...Array.from({ length: threads }, (_, t) => encodeThread(t + 1, 10_000 + t, `worker-${String(t).padStart(3, '0')}`))
  ]))
  let last = now()
  const tick = () => {
    const end = now()
    const span = end - last
    const step = span / BigInt(perTick)
    const frames: Buffer[] = []
    for (let t = 1; t <= threads; t++) {
      const records: WireRecord[] = []
      const offset = BigInt(t * 997) % step
      for (let i = 0; i < perTick; i++) {
        const start = last + BigInt(i) * step + offset
        const waiting = (i + t) % 2 === 0
        records.push({ kind: RecordKind.RANGE, domain: 1, message: waiting ? 3 : 2, startNs: start, endNs: start + step / 2n })
      }
      frames.push(encodeRecords(t, records))
    }
    frames.push(encodeStatus(end))
    socket.write(Buffer.concat(frames))
    last = end
    if (Date.now() < deadline) setTimeout(tick, 100)
    else socket.end()
  }
  tick()
})
socket.on('error', () => process.exit(1))
