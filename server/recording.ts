// Recordings: the raw ingest stream of every connection, as received, with the time it
// arrived and who sent it, so a replay rebuilds exactly what the live server had
// (`gilwatch report`, `gilwatch export`).
//
// File format (docs/protocol.md): the 8 bytes "GILWREC2", then chunks of
//   u32 connection, u32 length, u64 arrival time (ns, the server's CLOCK_MONOTONIC), and
//   `length` bytes of that connection's stream. Two lengths are markers: 0xFFFFFFFF, the
//   connection closed (no bytes follow); 0x80000000 | n, the connection opened, and n bytes of
//   its owner (the peer's credentials, server/peer.ts) follow. "GILWREC1" files have no
//   owners: every connection of theirs is replayed as one owner.
// Bounded: past `maxBytes` the file is renamed FILE.1 (replacing an older one) and a new
// FILE starts with each open connection's owner, HELLO and definitions, so it stands alone.
import fs from 'node:fs'
import { errors } from './errors'
import { createPrivateFile } from './private-file'
import type { Store } from './store'

const MAGIC = Buffer.from('GILWREC2')
const MAGIC_WITHOUT_OWNERS = Buffer.from('GILWREC1')
const CHUNK_HEADER = 16
const CLOSED = 0xffffffff
const OPENED = 0x80000000
// Chunks are socket reads (64 KiB) and preambles (definitionBytesPerConnection, 1 MiB); a
// length beyond this is a damaged file, never a reason to allocate gigabytes.
export const MAX_CHUNK_BYTES = 16 << 20
const RECORDED_CHUNK_BYTES = 64 << 10
const MAX_OWNER_BYTES = 1024
const FLUSH_BYTES = 256 * 1024
const REPLAYED_OWNER = 'the recording'

export interface RecorderTarget { path: string, maxBytes: number, overwrite?: boolean }

export class Recorder {
  private fd: number | null
  private size = 0
  private pending: Buffer[] = []
  private pendingBytes = 0
  private readonly open = new Map<number, string>() // connection -> owner
  private readonly timer: NodeJS.Timeout
  private readonly maxBytes: number
  readonly path: string

  // `onError`: the recording stopped (a full disk, a rotation another user blocked); the
  // server goes on without it.
  constructor (target: RecorderTarget, private readonly store: Store, private readonly onError: (message: string) => void) {
    this.path = target.path
    this.maxBytes = target.maxBytes
    this.fd = this.start(target.overwrite ?? false)
    this.timer = setInterval(() => this.flush(), 100)
    this.timer.unref()
  }

  opened (connection: number, owner: string, atNs: number): void {
    this.open.set(connection, owner)
    this.append(connection, OPENED, ownerBytes(owner), atNs)
  }

  // Chunks are written at most RECORDED_CHUNK_BYTES long (a socket read's size), well
  // within what a reader accepts (MAX_CHUNK_BYTES).
  data (connection: number, chunk: Buffer, atNs: number): void {
    for (let at = 0; at < chunk.length; at += RECORDED_CHUNK_BYTES) {
      const part = chunk.subarray(at, at + RECORDED_CHUNK_BYTES)
      this.append(connection, part.length, part, atNs)
    }
  }

  closed (connection: number, atNs: number): void {
    this.open.delete(connection)
    this.append(connection, CLOSED, null, atNs)
  }

  close (): void {
    clearInterval(this.timer)
    this.flush()
    if (this.fd !== null) fs.closeSync(this.fd)
    this.fd = null
  }

  // The server did not start after all: the file it created goes (it is ours, in a directory
  // where no one else can replace it, or we could not have created it there).
  discard (): void {
    this.close()
    fs.rmSync(this.path, { force: true })
  }

  // The first file is created as any file the CLI writes (server/private-file.ts); a rotated
  // one likewise, with no --overwrite: the path was just renamed away, so anything there now
  // was put there by someone else.
  private start (overwrite: boolean): number {
    const fd = createPrivateFile(this.path, { overwrite, what: `the recording ${this.path}` })
    fs.writeSync(fd, MAGIC)
    this.size = MAGIC.length
    return fd
  }

  private append (connection: number, length: number, body: Buffer | null, atNs: number): void {
    if (this.fd === null) return
    const header = Buffer.alloc(CHUNK_HEADER)
    header.writeUInt32LE(connection, 0)
    header.writeUInt32LE(length === OPENED ? (OPENED | body!.length) >>> 0 : length, 4)
    header.writeBigUInt64LE(BigInt(Math.max(0, Math.round(atNs))), 8)
    this.pending.push(header)
    if (body) this.pending.push(body)
    this.pendingBytes += CHUNK_HEADER + (body?.length ?? 0)
    if (this.pendingBytes >= FLUSH_BYTES) this.flush()
  }

  private flush (): void {
    if (!this.pendingBytes || this.fd === null) return
    const data = Buffer.concat(this.pending)
    this.pending = []
    this.pendingBytes = 0
    try {
      if (this.size + data.length > this.maxBytes) this.rotate()
      fs.writeSync(this.fd!, data)
      this.size += data.length
    } catch (error) {
      this.stop((error as Error).message)
    }
  }

  private stop (why: string): void {
    if (this.fd !== null) fs.closeSync(this.fd)
    this.fd = null
    this.onError(`recording to ${this.path} stopped: ${why}`)
  }

  private rotate (): void {
    fs.closeSync(this.fd!)
    this.fd = null
    fs.renameSync(this.path, `${this.path}.1`)
    this.fd = this.start(false)
    const now = BigInt(Number(process.hrtime.bigint()))
    for (const [connection, owner] of this.open) {
      const preamble = this.store.preamble(connection)
      const parts: Buffer[] = [chunkHeader(connection, (OPENED | ownerBytes(owner).length) >>> 0, now), ownerBytes(owner)]
      if (preamble?.length) parts.push(chunkHeader(connection, preamble.length, now), preamble)
      const data = Buffer.concat(parts)
      fs.writeSync(this.fd, data)
      this.size += data.length
    }
  }
}

function chunkHeader (connection: number, length: number, atNs: bigint): Buffer {
  const header = Buffer.alloc(CHUNK_HEADER)
  header.writeUInt32LE(connection, 0)
  header.writeUInt32LE(length, 4)
  header.writeBigUInt64LE(atNs, 8)
  return header
}

const ownerBytes = (owner: string) => Buffer.from(owner, 'utf8').subarray(0, MAX_OWNER_BYTES)

export interface ReplayProgress { bytes: number, total: number }
export interface ReplayHooks {
  onProgress?: (p: ReplayProgress) => void
  // Called after every ENDED_BATCH connection ends, and at the end: processes that ended
  // can be summed up and forgotten, so memory does not grow with the recording.
  onEnded?: () => void
}
const ENDED_BATCH = 1000

// Feeds a recording into `store` as it originally arrived, a chunk at a time (memory bounded
// by MAX_CHUNK_BYTES whatever the file's size). Returns the last arrival time. A file cut
// short while being written keeps what is whole; a damaged one is refused where it breaks.
export function replay (path: string, store: Store, { onProgress, onEnded }: ReplayHooks = {}): number {
  let fd: number
  try {
    fd = fs.openSync(path, 'r')
  } catch (error) {
    throw errors.notARecording(`cannot open ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`)
  }
  try {
    const stat = fs.fstatSync(fd)
    if (!stat.isFile()) throw errors.notARecording(`${path} is not a regular file`)
    const total = stat.size
    const magic = Buffer.alloc(MAGIC.length)
    const read = fs.readSync(fd, magic, 0, magic.length, 0)
    const owners = read === magic.length && magic.equals(MAGIC)
    if (!owners && !(read === magic.length && magic.equals(MAGIC_WITHOUT_OWNERS))) {
      throw errors.notARecording(`${path} is not a gilwatch recording (make one with \`gilwatch run --record FILE\` or \`gilwatch record FILE\`)`)
    }
    const connections = new Map<number, number>() // recorded id -> store connection
    const damaged = (at: number, what: string) => errors.notARecording(`${path} is damaged at byte ${at}: ${what}`)
    let position = MAGIC.length
    let lastNs = 0
    let ended = 0
    const header = Buffer.alloc(CHUNK_HEADER)
    let lastReport = Date.now()
    const open = (id: number, owner: string): number => {
      const previous = connections.get(id)
      if (previous !== undefined) store.closeConnection(previous, lastNs)
      const connection = store.openConnection(owner)
      connections.set(id, connection)
      return connection
    }
    while (position + CHUNK_HEADER <= total) {
      const at = position
      fs.readSync(fd, header, 0, CHUNK_HEADER, position)
      position += CHUNK_HEADER
      const id = header.readUInt32LE(0)
      const length = header.readUInt32LE(4)
      lastNs = Number(header.readBigUInt64LE(8))
      if (length === CLOSED) {
        const connection = connections.get(id)
        if (connection !== undefined) store.closeConnection(connection, lastNs)
        connections.delete(id)
        if (onEnded && ++ended % ENDED_BATCH === 0) onEnded()
        continue
      }
      const opened = owners && (length & OPENED) !== 0
      const bytes = opened ? length & ~OPENED : length
      if (bytes > (opened ? MAX_OWNER_BYTES : MAX_CHUNK_BYTES)) throw damaged(at, `a chunk of ${bytes} bytes`)
      if (position + bytes > total) break // cut short while being written: keep what is whole
      const chunk = Buffer.alloc(bytes)
      fs.readSync(fd, chunk, 0, bytes, position)
      position += bytes
      if (opened) {
        open(id, chunk.toString('utf8'))
        continue
      }
      const connection = connections.get(id) ?? open(id, REPLAYED_OWNER)
      store.feed(connection, chunk, lastNs) // a stream that turns invalid stays closed, as it did live
      if (onProgress && Date.now() - lastReport > 500) {
        lastReport = Date.now()
        onProgress({ bytes: position, total })
      }
    }
    for (const connection of connections.values()) store.closeConnection(connection, lastNs)
    onEnded?.()
    return lastNs
  } finally {
    fs.closeSync(fd)
  }
}
