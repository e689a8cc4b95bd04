// Sockets and ingest authentication (docs/security.md): the server never deletes what is
// not its socket and refuses socket directories others could write to or own; the
// injection library refuses them too, however the path was given; TCP ingest needs the
// token when the server has one, and loopback without one; GILWATCH_ADDR means the same to
// the TypeScript and the C parser (test/fixtures/addresses.json through both).
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { parseAddress } from '../server/cli/address'
import { GilwatchError } from '../server/errors'
import { checkIngestExposure, IngestGate, IngestToken } from '../server/ingest-auth'
import { createLogger } from '../server/log'
import { checkSocketPath } from '../server/socket-path'
import { encodeAuth, encodeHello, layout } from '../server/protocol'
import { startServer } from '../server/start-server'
import { loadAddon } from '../server/store'
import {
  buildC, buildFixture, fixturesDir, monitoredEnv, readTruth, repoRoot, run, startTestServer, tempDir, waitFor
} from './helpers'

const gilwatch = path.join(repoRoot, 'bin', 'gilwatch.js')
const cli = (args: string[], env: NodeJS.ProcessEnv = process.env) => run(process.execPath, [gilwatch, ...args], env, 20_000)
const TOKEN = 'a3f1c9e27b5d4e8f90a1b2c3d4e5f607'
const NOBODY = 65534
const asRoot = process.geteuid?.() === 0
// Giving a directory to another user (nobody) needs root; npm test runs as root (its pretest
// installs packages), and a run without it fails here rather than passing without checking.
const assertRoot = () => assert.ok(asRoot, 'run as root: these cases give a directory to another user (nobody)')

let fixture: string
let dir: string
before(() => {
  fixture = buildFixture('gil_fixture.c')
  dir = tempDir()
})
after(() => { fs.rmSync(dir, { recursive: true, force: true }) })

const serverError = async (options: Parameters<typeof startServer>[0]): Promise<GilwatchError> => {
  try {
    const server = await startServer({ http: null, logger: createLogger('silent'), ...options })
    await server.close()
  } catch (error) {
    return error as GilwatchError
  }
  throw new Error('the server started')
}

test('serve never removes a file, a symbolic link or a directory at --socket', async () => {
  const file = path.join(dir, 'file.sock')
  fs.writeFileSync(file, 'precious\n')
  const result = await cli(['serve', '--socket', file, '--no-http'])
  assert.equal(result.code, 2)
  assert.equal(result.stderr, `gilwatch: --socket ${file} exists and is not a socket (a file): gilwatch does not remove it; ` +
    'pick another --socket path, or remove it yourself if it is not needed\n')
  assert.equal(fs.readFileSync(file, 'utf8'), 'precious\n', 'the file is untouched')

  const link = path.join(dir, 'link.sock')
  fs.symlinkSync(file, link)
  const linkError = await serverError({ socket: link })
  assert.equal(linkError.code, 'GW_ERR_NOT_A_SOCKET')
  assert.match(linkError.message, /is not a socket \(a symbolic link\)/)
  assert.equal(fs.readlinkSync(link), file)

  const subdirectory = path.join(dir, 'subdirectory.sock')
  fs.mkdirSync(subdirectory)
  assert.match((await serverError({ socket: subdirectory })).message, /is not a socket \(a directory\)/)
  assert.ok(fs.statSync(subdirectory).isDirectory())
})

test('serve refuses a socket directory that others can write to', async () => {
  for (const mode of [0o777, 0o1777, 0o770]) {
    const shared = path.join(dir, `shared-${mode.toString(8)}`)
    fs.mkdirSync(shared)
    fs.chmodSync(shared, mode)
    const error = await serverError({ socket: path.join(shared, 'ingest.sock') })
    assert.equal(error.code, 'GW_ERR_UNSAFE_SOCKET_DIR')
    assert.equal(error.message.split(':')[0], `${shared} is writable by other users (mode ${mode.toString(8).padStart(4, '0')}), who could replace the socket and receive what the processes send`)
    // A shared (sticky) directory is meant to be writable: the advice is a directory of one's own.
    if (mode & 0o1000) assert.match(error.message, /it is a shared directory \(sticky, like \/tmp\): choose a directory of your own with --socket/)
    else assert.match(error.message, new RegExp(`run \`chmod 700 ${shared}\``))
    assert.deepEqual(fs.readdirSync(shared), [], 'no socket made there')
  }
  // Readable by others is fine: the socket itself is 0600.
  const readable = path.join(dir, 'readable')
  fs.mkdirSync(readable, { mode: 0o755 })
  const server = await startServer({ socket: path.join(readable, 'ingest.sock'), http: null, logger: createLogger('silent') })
  assert.equal(fs.statSync(path.join(readable, 'ingest.sock')).mode & 0o777, 0o600)
  await server.close()
})

test('serve refuses a socket directory owned by another user', async () => {
  assertRoot()
  const theirs = path.join(dir, 'theirs')
  fs.mkdirSync(theirs, { mode: 0o700 })
  fs.chownSync(theirs, NOBODY, NOBODY)
  const result = await cli(['serve', '--socket', path.join(theirs, 'ingest.sock'), '--no-http'])
  assert.equal(result.code, 2)
  assert.match(result.stderr, new RegExp(`^gilwatch: ${theirs} belongs to uid ${NOBODY}, not to you \\(uid 0\\): its owner could replace the socket`))
  assert.equal(result.stderr.split('\n').filter(Boolean).length, 1)
})

// The sender keeps stderr for its warnings only when it is a file or a terminal (a kept pipe
// would hold the program's reader open): these runs write stderr to a file.
async function runToFile (args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null, stderr: string }> {
  const errFile = path.join(dir, `stderr-${process.hrtime.bigint()}`)
  const errFd = fs.openSync(errFile, 'w')
  try {
    const child = spawn(fixture, args, { env, stdio: ['ignore', 'ignore', errFd] })
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('the fixture did not finish in 30 s')) }, 30_000)
      child.on('close', (c) => { clearTimeout(timer); resolve(c) })
    })
    return { code, stderr: fs.readFileSync(errFile, 'utf8') }
  } finally {
    fs.closeSync(errFd)
  }
}

// An "attacker" listening where the monitored process is told to connect: it must get nothing.
async function attackerSocket (owner: number, mode: number): Promise<{ socket: string, connections: () => number, close: () => Promise<void> }> {
  const trap = fs.mkdtempSync(path.join(dir, 'trap-'))
  const socket = path.join(trap, 'ingest.sock')
  let connections = 0
  const server = net.createServer((s) => { connections++; s.resume() })
  await new Promise<void>((resolve) => server.listen(socket, resolve))
  fs.chmodSync(socket, 0o777)
  fs.chownSync(socket, owner, owner)
  fs.chownSync(trap, owner, owner)
  fs.chmodSync(trap, mode)
  return { socket, connections: () => connections, close: () => new Promise((resolve) => server.close(() => resolve())) }
}

const unsafeDirectories: Array<[string, number, number, (d: string) => RegExp]> = [
  ['owned by another user', NOBODY, 0o755, (d) => new RegExp(`^gilwatch: ${d} belongs to uid ${NOBODY}, not to this process's user \\(uid 0\\): another user may have made it to collect this process's data \\(docs/security\\.md\\); not connecting$`)],
  ['writable by others', 0, 0o777, (d) => new RegExp(`^gilwatch: ${d} is writable by other users \\(mode 0777\\), who could replace the socket: run \`chmod 700 ${d}\`; not connecting$`)],
  ['shared and sticky', 0, 0o1777, (d) => new RegExp(`^gilwatch: ${d} is writable by other users \\(mode 1777\\), who could replace the socket: it is a shared directory \\(sticky, like /tmp\\); use a directory of your own; not connecting$`)]
]
for (const [what, owner, mode, warning] of unsafeDirectories) {
  test(`the injection refuses a socket directory ${what}, even when GILWATCH_ADDR names it`, async () => {
    assertRoot()
    const attacker = await attackerSocket(owner, mode)
    try {
      for (const addr of [attacker.socket, `unix:${attacker.socket}`]) {
        // 400 ms of work: the sender retries at 50, 100, 200 ms… and must warn only once.
        const result = await runToFile(['--truth', path.join(dir, 'truth'), '--threads', '2', '--duration-ms', '400'], monitoredEnv(addr))
        assert.equal(result.code, 0, result.stderr)
        const lines = result.stderr.split('\n').filter((l) => l.startsWith('gilwatch:'))
        assert.equal(lines.length, 1, `one warning line, not one per retry: ${result.stderr}`)
        assert.match(lines[0], warning(path.dirname(attacker.socket)))
        // `gilwatch run` decides the same, in the same words (server/socket-path.ts).
        const mirrored = checkSocketPath(attacker.socket)
        assert.equal(mirrored.kind, 'unsafe')
        assert.equal(`gilwatch: ${(mirrored as { why: string }).why}; not connecting`, lines[0])
      }
      assert.equal(attacker.connections(), 0, 'the attacker received no connection')
      // The same listener in a directory of our own, private: the program connects, so the
      // refusal above came from the directory check.
      fs.chownSync(path.dirname(attacker.socket), 0, 0)
      fs.chmodSync(path.dirname(attacker.socket), 0o700)
      fs.chownSync(attacker.socket, 0, 0)
      const control = await runToFile(['--truth', path.join(dir, 'truth'), '--threads', '1', '--duration-ms', '200'], monitoredEnv(attacker.socket))
      assert.equal(control.code, 0, control.stderr)
      assert.doesNotMatch(control.stderr, /not connecting/)
      assert.equal(checkSocketPath(attacker.socket).kind, 'safe')
      assert.ok(attacker.connections() >= 1, 'connected once the directory is private')
    } finally {
      await attacker.close()
    }
  })
}

test('the injection refuses a path that is not a socket', async () => {
  const notSocket = path.join(dir, 'not-a-socket')
  fs.writeFileSync(notSocket, '')
  const result = await runToFile(['--truth', path.join(dir, 'truth'), '--threads', '1', '--duration-ms', '100'], monitoredEnv(notSocket))
  assert.equal(result.code, 0, result.stderr)
  assert.match(result.stderr, new RegExp(`^gilwatch: ${notSocket} is not a socket; not connecting$`, 'm'))
  assert.deepEqual(checkSocketPath(notSocket), { kind: 'unsafe', why: `${notSocket} is not a socket` })
  assert.deepEqual(checkSocketPath(path.join(dir, 'no-such-dir', 'x.sock')), { kind: 'absent' })
})

function captureLogger () {
  const lines: string[] = []
  return { lines, logger: createLogger('warn', (line) => { lines.push(line) }) }
}

// The version the addon was built with: this test is about the token, not the version.
const hello = (pid: number) => {
  const frame = encodeHello({ pid, instance: BigInt(pid), monotonicNs: 1n, realtimeNs: 1n, service: `client-${pid}` })
  frame.writeUInt16LE(loadAddon().protocolLayout().GW_PROTOCOL_VERSION, layout.frameHeader.size + layout.hello.version)
  return frame
}
const rawClients = async (server: { processes: () => Promise<Array<{ service: string }>> }) =>
  (await server.processes()).map((p) => p.service).filter((s) => s.startsWith('client-')).sort()

// Writes `bytes` on a fresh TCP connection; resolves whether the server closed it first.
function exchange (port: number, bytes: Buffer, waitMs = 1000): Promise<'closed' | 'open'> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write(bytes))
    const timer = setTimeout(() => { socket.destroy(); resolve('open') }, waitMs)
    socket.on('error', (error: NodeJS.ErrnoException) => { if (error.code !== 'ECONNRESET') reject(error) })
    socket.on('close', () => { clearTimeout(timer); resolve('closed') })
    socket.resume()
  })
}

test('TCP ingest with --ingest-token-file: the right token is accepted, a wrong or missing one closes the connection', async () => {
  const tokenFile = path.join(dir, 'ingest-token')
  fs.writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 })
  const { lines, logger } = captureLogger()
  const server = await startTestServer({ tcp: { host: '127.0.0.1', port: 0 }, ingestToken: TOKEN, logger })
  try {
    const tcp = server.ingest.find((a) => a.kind === 'tcp')!
    const port = Number(tcp.address.split(':').pop())

    // A real monitored program with the token file: everything arrives.
    const truth = path.join(server.dir, 'truth')
    const good = await run(fixture, ['--truth', truth, '--threads', '2', '--iterations', '50'],
      monitoredEnv(tcp.address, { GILWATCH_TOKEN_FILE: tokenFile }))
    assert.equal(good.code, 0, good.stderr)
    const pid = Number(/parent (\d+)/.exec(good.stdout)![1])
    const reported = await waitFor('the authenticated process', async () =>
      (await server.processes()).find((p) => p.pid === pid && p.state === 'disconnected'))
    assert.equal(reported.rangesReceived, readTruth(truth).length)

    // The same program with a wrong token, and with none: nothing is ingested.
    for (const extra of [{ GILWATCH_TOKEN: 'b'.repeat(32) }, {}]) {
      const refused = await run(fixture, ['--truth', truth, '--threads', '1', '--iterations', '20'], monitoredEnv(tcp.address, extra))
      assert.equal(refused.code, 0, refused.stderr)
      const refusedPid = Number(/parent (\d+)/.exec(refused.stdout)![1])
      await new Promise((resolve) => setTimeout(resolve, 200))
      assert.equal((await server.processes()).some((p) => p.pid === refusedPid), false, `pid ${refusedPid} was ingested with ${JSON.stringify(extra)}`)
    }

    // Raw clients: the server closes them, and says why.
    lines.length = 0
    assert.equal(await exchange(port, Buffer.concat([encodeAuth('c'.repeat(32)), hello(900001)])), 'closed')
    assert.equal(await exchange(port, hello(900002)), 'closed')
    assert.equal(await exchange(port, Buffer.concat([encodeAuth(TOKEN.slice(0, -1)), hello(900003)])), 'closed')
    assert.equal(await exchange(port, Buffer.concat([encodeAuth(TOKEN), hello(900004)]), 300), 'open')
    assert.deepEqual(await rawClients(server), ['client-900004'])
    const warnings = lines.filter((l) => /closing ingest connection/.test(l))
    assert.equal(warnings.length, 3, lines.join(''))
    assert.match(warnings[0], /bad_token: the ingest token does not match the server's --ingest-token-file/)
    assert.match(warnings[1], /bad_token: this server needs the ingest token first \(AUTH frame\)/)

    // The Unix socket needs no token (its permissions say who the peer is), and a sender
    // with the token is still accepted there.
    for (const extra of [{}, { GILWATCH_TOKEN: TOKEN }]) {
      const local = await run(fixture, ['--truth', truth, '--threads', '1', '--iterations', '20'], monitoredEnv(server.socket, extra))
      const localPid = Number(/parent (\d+)/.exec(local.stdout)![1])
      await waitFor(`pid ${localPid} over the Unix socket`, async () => (await server.processes()).some((p) => p.pid === localPid))
    }
  } finally {
    await server.close()
  }
})

test('the token gate: AUTH split across reads, removed from the stream; an oversized AUTH refused', () => {
  const token = new IngestToken(TOKEN)
  const stream = Buffer.concat([encodeAuth(TOKEN), hello(1)])
  const gate = new IngestGate(token, true)
  const passed: Buffer[] = []
  for (let i = 0; i < stream.length; i++) {
    const result = gate.take(stream.subarray(i, i + 1))
    assert.equal(result.error, undefined)
    passed.push(result.bytes!)
  }
  assert.deepEqual(Buffer.concat(passed), hello(1), 'exactly the bytes after AUTH reach the decoder')
  const oversized = encodeAuth('x'.repeat(300))
  assert.equal(new IngestGate(token, true).take(oversized).error?.code, 'bad_token')
  assert.match(new IngestGate(null, false).take(oversized).error!.message, /an AUTH frame of 304 bytes: the token is 1 to 256 bytes/)
  // Without a required token, a stream without AUTH passes whole, even in pieces.
  const open = new IngestGate(token, false)
  assert.deepEqual(Buffer.concat([open.take(hello(2).subarray(0, 3)).bytes!, open.take(hello(2).subarray(3)).bytes!]), hello(2))
})

test('a server without a token accepts and drops an AUTH frame', async () => {
  const server = await startTestServer({ tcp: { host: '127.0.0.1', port: 0 }, insecureNoIngestToken: true })
  try {
    const port = Number(server.ingest.find((a) => a.kind === 'tcp')!.address.split(':').pop())
    assert.equal(await exchange(port, Buffer.concat([encodeAuth(TOKEN), hello(900010)]), 300), 'open')
    assert.deepEqual(await rawClients(server), ['client-900010'])
  } finally {
    await server.close()
  }
})

test('TCP ingest without a token is refused at startup, on loopback too', async () => {
  const result = await cli(['serve', '--tcp', '0.0.0.0:0', '--no-http', '--no-socket'])
  assert.equal(result.code, 2)
  assert.match(result.stderr, /^gilwatch: --tcp 0\.0\.0\.0 accepts monitored processes from beyond this machine with no authentication: give --ingest-token-file FILE .* or --insecure-no-ingest-token if everyone who can reach the port may send data .*\n$/)
  const loopback = await cli(['serve', '--tcp', '127.0.0.1:0', '--no-http', '--no-socket'])
  assert.equal(loopback.code, 2)
  assert.match(loopback.stderr, /^gilwatch: --tcp 127\.0\.0\.1 accepts monitored processes from every user of this machine with no authentication/)
  const error = await serverError({ socket: null, tcp: { host: '10.1.2.3', port: 0 } })
  assert.equal(error.code, 'GW_ERR_UNAUTHENTICATED_NETWORK_INGEST')
  // A token or the waiver: allowed (checked without binding beyond loopback).
  for (const host of ['127.0.0.1', '::1', 'localhost', '192.168.1.5']) {
    assert.throws(() => checkIngestExposure(host, {}), { code: 'GW_ERR_UNAUTHENTICATED_NETWORK_INGEST' })
  }
  checkIngestExposure('0.0.0.0', { token: new IngestToken(TOKEN) })
  checkIngestExposure('0.0.0.0', { insecureNoIngestToken: true })
  const both = await cli(['serve', '--no-http', '--ingest-token-file', '/x', '--insecure-no-ingest-token'])
  assert.match(both.stderr, /--ingest-token-file and --insecure-no-ingest-token contradict each other/)
})

test('gilwatch env passes the token file, checked, and refuses an address it cannot parse', async () => {
  const tokenFile = path.join(dir, 'env-token')
  fs.writeFileSync(tokenFile, TOKEN, { mode: 0o600 })
  const result = await cli(['env', '--addr', 'tcp://127.0.0.1:9478', '--ingest-token-file', tokenFile])
  assert.equal(result.code, 0, result.stderr)
  assert.match(result.stdout, new RegExp(`^export GILWATCH_TOKEN_FILE=${tokenFile}$`, 'm'))
  assert.doesNotMatch(result.stdout, new RegExp(TOKEN), 'the token itself is not printed')
  fs.chmodSync(tokenFile, 0o644)
  const open = await cli(['env', '--ingest-token-file', tokenFile])
  assert.equal(open.code, 2)
  assert.match(open.stderr, /--ingest-token-file .* is open to other users \(mode 0644\): run `chmod 600/)
  const bad = await cli(['env', '--addr', 'tcp://9478'])
  assert.equal(bad.code, 2)
  assert.equal(bad.stderr, 'gilwatch: --addr tcp://9478 is not tcp://HOST:PORT: it has no host (this machine: tcp://127.0.0.1:9478)\n')
})

test('the injection library reads GILWATCH_TOKEN_FILE like the server: not open to others', async () => {
  const tokenFile = path.join(dir, 'shared-token')
  fs.writeFileSync(tokenFile, TOKEN, { mode: 0o644 })
  fs.chmodSync(tokenFile, 0o644)
  const result = await run(fixture, ['--truth', path.join(dir, 'truth'), '--threads', '1', '--iterations', '5'],
    monitoredEnv(path.join(dir, 'none.sock'), { GILWATCH_TOKEN_FILE: tokenFile }))
  assert.equal(result.code, 0)
  assert.equal(result.stderr, `gilwatch: GILWATCH_TOKEN_FILE=${tokenFile} is open to other users (mode 0644): run \`chmod 600 ${tokenFile}\`; NVTX monitoring is off for this process\n`)
})

interface AddressCase { input: string, expect?: Record<string, unknown>, error?: string }
const table: AddressCase[] = JSON.parse(fs.readFileSync(path.join(fixturesDir, 'addresses.json'), 'utf8'))

test('GILWATCH_ADDR: the TypeScript and C parsers agree on every case of test/fixtures/addresses.json', () => {
  // buildC caches by the source's text: the wrapper names the hashes of the code it includes.
  const included = ['test/fixtures/address_parse.c', 'native/injection/config.c', 'native/injection/runtime.h', 'native/protocol/gilwatch_protocol.h']
  const hash = require('node:crypto').createHash('sha256')
  for (const file of included) hash.update(fs.readFileSync(path.join(repoRoot, file)))
  const wrapper = path.join(tempDir(), 'address_parse.c')
  fs.writeFileSync(wrapper, `/* ${hash.digest('hex')} */\n#include "${path.join(fixturesDir, 'address_parse.c')}"\n`)
  const parser = buildC(wrapper)
  const cLines = execFileSync(parser, table.map((c) => c.input), { encoding: 'utf8' }).trim().split('\n').map((l) => JSON.parse(l))
  assert.equal(cLines.length, table.length)
  table.forEach((c, i) => {
    const name = JSON.stringify(c.input.length > 40 ? `${c.input.slice(0, 40)}…` : c.input)
    let ts: Record<string, unknown>
    try {
      ts = { ...parseAddress(c.input, 'GILWATCH_ADDR') }
    } catch (error) {
      assert.equal((error as GilwatchError).code, 'GW_ERR_BAD_ADDRESS')
      ts = { error: (error as Error).message }
    }
    const fromC = cLines[i]
    if (c.expect) {
      assert.deepEqual(ts, c.expect, `TypeScript, ${name}`)
      assert.deepEqual(fromC, c.expect, `C, ${name}`)
    } else {
      assert.ok(typeof ts.error === 'string' && ts.error.includes(c.error!), `TypeScript, ${name}: ${ts.error ?? JSON.stringify(ts)}`)
      assert.ok(typeof fromC.error === 'string' && fromC.error.includes(c.error!), `C, ${name}: ${fromC.error ?? JSON.stringify(fromC)}`)
      // Worded alike: the same sentence, as the user wrote it.
      assert.equal(ts.error, fromC.error, `the same message, ${name}`)
    }
  })
})
