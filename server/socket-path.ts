// Who may own the Unix ingest socket and its directory. Whoever can write to the directory
// can replace the socket and receive what processes send (command lines, names), so both
// ends check it: the server before it listens (prepareSocketDirectory), and every monitored
// process before every connect() (native/injection/socket_path.c). checkSocketPath is that
// library check, written again for `gilwatch run`, which must know before it promises to
// monitor anything whether the program will report where it says; test/socket-security.test.ts
// runs both over the same directories so they cannot drift apart. docs/security.md says why
// each rule is there.
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { defaultSocketPath } from './config'
import { errors } from './errors'

const euid = () => (process.geteuid ? process.geteuid() : 0)
const mode = (st: fs.Stats) => (st.mode & 0o7777).toString(8).padStart(4, '0')
const STICKY = 0o1000

// What the library decides for a socket path: 'safe' (connect), 'absent' (the directory or
// the socket is not there yet: no server, retry later), or why it never connects there.
export type SocketVerdict = { kind: 'safe' } | { kind: 'absent' } | { kind: 'unsafe', why: string }

export function checkSocketPath (socketPath: string): SocketVerdict {
  if (!path.isAbsolute(socketPath)) return { kind: 'unsafe', why: `${socketPath} is not an absolute socket path` }
  const directory = path.dirname(socketPath)
  let st: fs.Stats
  try {
    st = fs.lstatSync(directory)
  } catch {
    return { kind: 'absent' }
  }
  if (!st.isDirectory()) return { kind: 'unsafe', why: `${directory} (the directory of ${socketPath}) is not a directory` }
  if (st.uid !== euid()) {
    return { kind: 'unsafe', why: `${directory} belongs to uid ${st.uid}, not to this process's user (uid ${euid()}): another user may have made it to collect this process's data (docs/security.md)` }
  }
  if (st.mode & 0o022) return { kind: 'unsafe', why: `${directory} is writable by other users (mode ${mode(st)}), who could replace the socket: ${fixFor(directory, st)}` }
  try {
    st = fs.lstatSync(socketPath)
  } catch {
    return { kind: 'absent' }
  }
  if (!st.isSocket()) return { kind: 'unsafe', why: `${socketPath} is not a socket` }
  if (st.uid !== euid() && st.uid !== 0) return { kind: 'unsafe', why: `${socketPath} belongs to uid ${st.uid}, not to this process's user (uid ${euid()})` }
  return { kind: 'safe' }
}

// A shared directory (sticky, like /tmp) is meant to be writable by all: making it private
// is not the fix, a directory of one's own is.
function fixFor (directory: string, st: fs.Stats): string {
  return st.mode & STICKY
    ? 'it is a shared directory (sticky, like /tmp); use a directory of your own'
    : `run \`chmod 700 ${directory}\``
}

// The server's side: the directory is created 0700 when missing; an existing one must pass
// the library's rules, or the server stops with the fix.
export function prepareSocketDirectory (socketPath: string): void {
  const directory = path.dirname(socketPath)
  if (!fs.existsSync(directory)) fs.mkdirSync(directory, { recursive: true, mode: 0o700 })
  const st = fs.lstatSync(directory)
  const uid = euid()
  const fix = `choose a directory of your own with --socket, e.g. ${defaultSocketPath()}`
  if (!st.isDirectory()) throw errors.unsafeSocketDirectory(`${directory} (the directory of --socket ${socketPath}) is not a directory: ${fix}`)
  if (st.uid !== uid) {
    throw errors.unsafeSocketDirectory(`${directory} belongs to uid ${st.uid}, not to you (uid ${uid}): its owner could replace the socket ` +
      `and receive what the processes send; ${fix}`)
  }
  if (st.mode & 0o022) {
    const advice = st.mode & STICKY ? `it is a shared directory (sticky, like /tmp): ${fix}` : `run \`chmod 700 ${directory}\`, or ${fix}`
    throw errors.unsafeSocketDirectory(`${directory} is writable by other users (mode ${mode(st)}), ` +
      `who could replace the socket and receive what the processes send: ${advice}`)
  }
}

export function isSocket (p: string): boolean {
  try {
    return fs.lstatSync(p).isSocket()
  } catch {
    return false
  }
}

// A socket file left by a server that died is removed; a live one is an error, and anything
// that is not a socket is never touched.
export async function removeStaleSocket (socketPath: string): Promise<void> {
  let st: fs.Stats
  try {
    st = fs.lstatSync(socketPath)
  } catch {
    return
  }
  if (!st.isSocket()) {
    throw errors.notASocket(`--socket ${socketPath} exists and is not a socket (${st.isSymbolicLink() ? 'a symbolic link' : st.isDirectory() ? 'a directory' : 'a file'}): ` +
      'gilwatch does not remove it; pick another --socket path, or remove it yourself if it is not needed')
  }
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.connect({ path: socketPath })
    probe.once('connect', () => { probe.destroy(); resolve(true) })
    probe.once('error', () => resolve(false))
  })
  if (alive) throw errors.addressInUse(`a gilwatch server already listens on ${socketPath}: stop it, or pass --socket PATH`)
  fs.rmSync(socketPath, { force: true })
}
