// The command line: what `env` prints, secure defaults of `serve`, TCP ingest, and a clear
// error with the fix for every wrong flag.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { storeDefaults } from '../server/store'
import { buildFixture, monitoredEnv, readTruth, repoRoot, run, startTestServer, tempDir, waitFor } from './helpers'

const gilwatch = path.join(repoRoot, 'bin', 'gilwatch.js')
const cli = (args: string[], env: NodeJS.ProcessEnv = process.env) => run(process.execPath, [gilwatch, ...args], env)

test('env prints the injection library and the default address', async () => {
  const result = await cli(['env'], { ...process.env, XDG_RUNTIME_DIR: '/run/user/4321' })
  assert.equal(result.code, 0)
  const lines = Object.fromEntries(result.stdout.trim().split('\n').map((l) => {
    const [, name, value] = /^export (\w+)=(.*)$/.exec(l)!
    return [name, value]
  }))
  assert.ok(fs.existsSync(lines.NVTX_INJECTION64_PATH), lines.NVTX_INJECTION64_PATH)
  assert.equal(lines.GILWATCH_ADDR, '/run/user/4321/gilwatch/ingest.sock')
  const tcp = await cli(['env', '--addr', 'tcp://127.0.0.1:9478'])
  assert.match(tcp.stdout, /^export GILWATCH_ADDR=tcp:\/\/127\.0\.0\.1:9478$/m)
})

test('serve\'s defaults are the addon\'s, in its help and in docs/configuration.md', async () => {
  const d = storeDefaults()
  const expected = { recent: d.recentPerThread, 'max-thread-labels': d.maxThreadLabels, 'max-range-keys': d.maxRangeKeys, 'hold-max-window': d.holdMaxWindowMs / 1000 }
  const docs = fs.readFileSync(path.join(repoRoot, 'docs', 'configuration.md'), 'utf8')
  const help = (await cli(['serve', '--help'])).stdout
  for (const [flag, value] of Object.entries(expected)) {
    assert.match(docs, new RegExp(`^\\| \`--${flag} \\w+\` *\\| ${value} +\\|`, 'm'), `docs: --${flag} defaults to ${value}`)
    assert.match(help, new RegExp(`--${flag} .*\\(default ${value}\\)`), `help: --${flag} defaults to ${value}`)
  }
})

const wrong: Array<[string[], RegExp]> = [
  [['serve', '--bogus'], /unknown option --bogus\. Run `gilwatch help serve`/],
  [['serve', '--http', 'localhost'], /--http localhost is not HOST:PORT \(for example 127\.0\.0\.1:9477\)/],
  [['serve', '--tcp', '1.2.3.4:99999'], /--tcp 1\.2\.3\.4:99999 is not HOST:PORT/],
  [['serve', '--socket', 'relative.sock'], /--socket relative\.sock must be an absolute path/],
  [['serve', '--socket', '/tmp/x.sock', '--no-socket'], /contradict/],
  [['serve', '--recent', 'many'], /--recent many must be a whole number/],
  [['env', '--addr', 'somewhere'], /--addr somewhere must be an absolute socket path, unix:PATH or tcp:\/\/HOST:PORT/],
  [['frobnicate'], /unknown command "frobnicate"/]
]
for (const [args, message] of wrong) {
  test(`a clear error for: gilwatch ${args.join(' ')}`, async () => {
    const result = await cli(args)
    assert.equal(result.code, 2)
    assert.match(result.stderr, message)
    assert.equal(result.stderr.split('\n').filter(Boolean).length, 1, 'one line, no stack trace')
  })
}

test('serve: private socket, loopback HTTP by default, and a second server on the same socket is refused', async () => {
  const dir = path.join(tempDir(), 'gilwatch')
  const socket = path.join(dir, 'ingest.sock')
  // `--http 0`: a free port on the default host, so a gilwatch already serving on this machine
  // cannot fail the test; the host is still the default one.
  const child = spawn(process.execPath, [gilwatch, 'serve', '--socket', socket, '--http', '0'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  const listening = new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d) => {
      stderr += d
      if (/HTTP on/.test(stderr)) resolve()
    })
    child.once('exit', () => reject(new Error(`gilwatch serve exited: ${stderr}`)))
  })
  try {
    await listening
    assert.match(stderr, /HTTP on http:\/\/127\.0\.0\.1:\d+/)
    assert.equal(fs.statSync(socket).mode & 0o777, 0o600, 'the socket is not world-writable')
    assert.equal(fs.statSync(dir).mode & 0o777, 0o700, 'its directory is private')
    const second = await cli(['serve', '--socket', socket, '--no-http'])
    assert.equal(second.code, 2)
    assert.match(second.stderr, /already listens on .*ingest\.sock: stop it, or pass --socket PATH/)
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    }
  }
  assert.equal(fs.existsSync(socket), false, 'a stopped server removes its socket')
})

test('TCP ingest: a program reports over tcp://HOST:PORT', async () => {
  const token = 'tcp-test-token-0123456789abcdef'
  const server = await startTestServer({ tcp: { host: '127.0.0.1', port: 0 }, ingestToken: token })
  try {
    const tcp = server.ingest.find((a) => a.kind === 'tcp')!
    assert.match(tcp.address, /^tcp:\/\/127\.0\.0\.1:\d+$/)
    const truth = path.join(server.dir, 'truth')
    const result = await run(buildFixture('gil_fixture.c'), ['--truth', truth, '--threads', '2', '--iterations', '100'],
      monitoredEnv(tcp.address, { GILWATCH_TOKEN: token }))
    assert.equal(result.code, 0, result.stderr)
    const pid = Number(/parent (\d+)/.exec(result.stdout)![1])
    const p = await waitFor('the TCP process', async () =>
      (await server.processes()).find((x) => x.pid === pid && x.state === 'disconnected'))
    assert.equal(p.rangesReceived, readTruth(truth).length)
  } finally {
    await server.close()
  }
})
