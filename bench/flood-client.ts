// A synthetic monitored process for the capacity bench: connects to the ingest socket and
// writes valid frames (1000 ranges per frame) as fast as the socket takes them.
import net from 'node:net'
import { RecordKind, StringKind, encodeHello, encodeRecords, encodeStatus, encodeString, encodeThread, type WireRecord } from '../server/protocol'

const [socketPath, secondsText, idText] = process.argv.slice(2)
const id = Number(idText)
const deadline = Date.now() + Number(secondsText) * 1000
const records: WireRecord[] = []
for (let i = 0; i < 1000; i++) {
  records.push({ kind: RecordKind.RANGE, domain: 1, message: i % 4 === 0 ? 3 : 2, startNs: BigInt(i * 1000), endNs: BigInt(i * 1000 + 700) })
}
const chunk = Buffer.concat(Array.from({ length: 16 }, (_, t) => encodeRecords(1 + (t % 8), records)).concat([encodeStatus(1n)]))
const socket = net.connect(socketPath, () => {
  socket.write(Buffer.concat([
    encodeHello({ pid: 100000 + id, instance: BigInt(id + 1), monotonicNs: 0n, realtimeNs: BigInt(Date.now()) * 1000000n, service: 'flood' }),
    encodeString(StringKind.DOMAIN, 1, 'GIL NVTX Domain'),
    encodeString(StringKind.MESSAGE, 2, 'Holding GIL'),
    encodeString(StringKind.MESSAGE, 3, 'Waiting for GIL'),
    ...Array.from({ length: 8 }, (_, t) => encodeThread(t + 1, 1000 + t, `t${t}`))
  ]))
  const pump = () => {
    while (Date.now() < deadline) {
      if (!socket.write(chunk)) {
        socket.once('drain', pump)
        return
      }
    }
    socket.end()
  }
  pump()
})
socket.on('error', () => process.exit(1))
