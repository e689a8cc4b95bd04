// Recordings: the raw ingest stream of every connection, as received, with the time it
// arrived, so a replay rebuilds exactly what the live server had (`gilwatch report`,
// `gilwatch export`).
//
// File format (docs/protocol.md): the 8 bytes "GILWREC1", then chunks of
//   u32 connection, u32 length (0xFFFFFFFF: the connection closed), u64 arrival time (ns,
//   the server's CLOCK_MONOTONIC), and `length` bytes of that connection's stream.
// Bounded: past `maxBytes` the file is renamed FILE.1 (replacing an older one) and a new
// FILE starts with each open connection's HELLO and definitions, so it stands on its own.
import fs from 'node:fs'
import { errors } from './errors'
import type { Store } from './store'

const MAGIC = Buffer.from('GILWREC1')
const CHUNK_HEADER = 16
const CLOSED = 0xffffffff
const FLUSH_BYTES = 256 * 1024

export class Recorder {
  private fd: number
  private size = 0
  private pending: Buffer[] = []
  private pendingBytes = 0
  private readonly open = new Set<number>()
  private readonly timer: NodeJS.Timeout

  constructor (readonly path: string, private readonly maxBytes: number, private readonly store: Store) {
    this.fd = this.start()
    this.timer = setInterval(() => this.flush(), 100)
    this.timer.unref()
  }

  data (connection: number, chunk: Buffer, atNs: number): void {
    this.open.add(connection)
    this.append(connection, chunk, atNs)
  }

  closed (connection: number, atNs: number): void {
    this.open.delete(connection)
    this.append(connection, null, atNs)
  }

  close (): void {
    clearInterval(this.timer)
    this.flush()
    fs.closeSync(this.fd)
  }

  private start (): number {
    const fd = fs.openSync(this.path, 'w', 0o600)
    fs.writeSync(fd, MAGIC)
    this.size = MAGIC.length
    return fd
  }

  private append (connection: number, chunk: Buffer | null, atNs: number): void {
    const header = Buffer.alloc(CHUNK_HEADER)
    header.writeUInt32LE(connection, 0)
    header.writeUInt32LE(chunk ? chunk.length : CLOSED, 4)
    header.writeBigUInt64LE(BigInt(Math.max(0, Math.round(atNs))), 8)
    this.pending.push(header)
    if (chunk) this.pending.push(chunk)
    this.pendingBytes += CHUNK_HEADER + (chunk?.length ?? 0)
    if (this.pendingBytes >= FLUSH_BYTES) this.flush()
  }

  private flush (): void {
    if (!this.pendingBytes) return
    const data = Buffer.concat(this.pending)
    this.pending = []
    this.pendingBytes = 0
    if (this.size + data.length > this.maxBytes) this.rotate()
    fs.writeSync(this.fd, data)
    this.size += data.length
  }

  private rotate (): void {
    fs.closeSync(this.fd)
    fs.renameSync(this.path, `${this.path}.1`)
    this.fd = this.start()
    const now = Number(process.hrtime.bigint())
    for (const connection of this.open) {
      const preamble = this.store.preamble(connection)
      if (!preamble?.length) continue
      const header = Buffer.alloc(CHUNK_HEADER)
      header.writeUInt32LE(connection, 0)
      header.writeUInt32LE(preamble.length, 4)
      header.writeBigUInt64LE(BigInt(now), 8)
      fs.writeSync(this.fd, Buffer.concat([header, preamble]))
      this.size += CHUNK_HEADER + preamble.length
    }
  }
}

export interface ReplayProgress { bytes: number, total: number }

// Feeds a recording into `store` as it originally arrived. Returns the last arrival time.
export function replay (path: string, store: Store, onProgress?: (p: ReplayProgress) => void): number {
  let fd: number
  try {
    fd = fs.openSync(path, 'r')
  } catch (error) {
    throw errors.notARecording(`cannot open ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`)
  }
  try {
    const total = fs.fstatSync(fd).size
    const magic = Buffer.alloc(MAGIC.length)
    if (fs.readSync(fd, magic, 0, magic.length, 0) !== magic.length || !magic.equals(MAGIC)) {
      throw errors.notARecording(`${path} is not a gilwatch recording (make one with \`gilwatch run --record FILE\` or \`gilwatch record FILE\`)`)
    }
    const connections = new Map<number, number>()
    let position = MAGIC.length
    let lastNs = 0
    const header = Buffer.alloc(CHUNK_HEADER)
    let lastReport = Date.now()
    while (position + CHUNK_HEADER <= total) {
      fs.readSync(fd, header, 0, CHUNK_HEADER, position)
      position += CHUNK_HEADER
      const id = header.readUInt32LE(0)
      const length = header.readUInt32LE(4)
      lastNs = Number(header.readBigUInt64LE(8))
      let connection = connections.get(id)
      if (length === CLOSED) {
        if (connection !== undefined) store.closeConnection(connection, lastNs)
        connections.delete(id)
        continue
      }
      if (position + length > total) break // cut short while being written: keep what is whole
      if (connection === undefined) {
        connection = store.openConnection()
        connections.set(id, connection)
      }
      const chunk = Buffer.alloc(length)
      fs.readSync(fd, chunk, 0, length, position)
      position += length
      store.feed(connection, chunk, lastNs) // a stream that turns invalid stays closed, as it did live
      if (onProgress && Date.now() - lastReport > 500) {
        lastReport = Date.now()
        onProgress({ bytes: position, total })
      }
    }
    for (const connection of connections.values()) store.closeConnection(connection, lastNs)
    return lastNs
  } finally {
    fs.closeSync(fd)
  }
}
