// The monitored program never depends on the server: absent, late, killed, stalled or
// flooded with other processes, the program finishes normally and losses are counted.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { test } from 'node:test'
import type { ProcessSnapshot } from '../server/shared/views'
import { buildFixture, monitoredEnv, readTruth, repoRoot, run, startTestServer, tempDir, waitFor } from './helpers'

const fixture = buildFixture('gil_fixture.c')
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const parentPid = (stdout: string) => Number(/parent (\d+)/.exec(stdout)![1])

test('several processes at once each arrive complete', async () => {
  const server = await startTestServer()
  try {
    const runs = [0, 1, 2, 3].map((i) => {
      const truth = path.join(server.dir, `truth-${i}`)
      return { truth, done: run(fixture, ['--truth', truth, '--threads', '3', '--iterations', '300'], monitoredEnv(server.socket)) }
    })
    for (const { truth, done } of runs) {
      const result = await done
      assert.equal(result.code, 0, result.stderr)
      const pid = parentPid(result.stdout)
      const process = await waitFor(`process ${pid}`, async () =>
        (await server.processes()).find((p) => p.pid === pid && p.state === 'disconnected'))
      const expected = readTruth(truth).length
      assert.equal(process.rangesReceived, expected, `pid ${pid}: every range arrived`)
      assert.equal(process.droppedEvents, 0)
    }
    assert.equal(server.store.counters().decodeErrors, 0)
  } finally {
    await server.close()
  }
})

test('a server started after the program: later ranges arrive, earlier ones are counted as dropped', async () => {
  const dir = tempDir()
  const socket = path.join(dir, 'late.sock')
  const truth = path.join(dir, 'truth')
  const running = run(fixture, ['--truth', truth, '--threads', '3', '--duration-ms', '1500', '--hold-us', '200'],
    monitoredEnv(socket))
  await sleep(500)
  const server = await startTestServer({ socket })
  try {
    const result = await running
    assert.equal(result.code, 0, result.stderr)
    const pid = parentPid(result.stdout)
    const process = await waitFor('the late process', async () =>
      (await server.processes()).find((p) => p.pid === pid && p.state === 'disconnected'))
    assert.ok(process.rangesReceived > 0, 'ranges after the server came up arrived')
    assert.ok(process.droppedEvents > 0, 'ranges before it were dropped and counted')
    // Nothing vanishes silently: each range either arrived or was counted.
    assert.equal(process.rangesReceived + process.droppedEvents, readTruth(truth).length)
  } finally {
    await server.close()
  }
})

function startServerProcess (socket: string): Promise<{ child: ChildProcess, url: string }> {
  const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'gilwatch.js'), 'serve', '--socket', socket,
    '--http', '127.0.0.1:0'], { stdio: ['ignore', 'ignore', 'pipe'] })
  return new Promise((resolve, reject) => {
    let stderr = ''
    child.stderr!.on('data', (d) => {
      stderr += d
      const match = /HTTP on (http:\/\/[\d.:]+)/.exec(stderr)
      if (match) resolve({ child, url: match[1] })
    })
    child.on('exit', (code) => reject(new Error(`server exited with ${code}: ${stderr}`)))
  })
}

test('the server killed and restarted mid-run: the program finishes normally, drops are counted', async () => {
  const dir = tempDir()
  const socket = path.join(dir, 'ingest.sock')
  const truth = path.join(dir, 'truth')
  const stop = path.join(dir, 'stop')
  const first = await startServerProcess(socket)
  const running = run(fixture, ['--truth', truth, '--threads', '3', '--duration-ms', '60000', '--hold-us', '200',
    '--stop-file', stop], monitoredEnv(socket), 90_000)
  const processesOn = async (url: string) =>
    ((await (await fetch(`${url}/api/processes`)).json()) as { processes: ProcessSnapshot[] }).processes
  await waitFor('ranges on the first server', async () => (await processesOn(first.url)).some((p) => p.rangesReceived > 0))
  first.child.kill('SIGKILL')
  await sleep(300)
  assert.ok(fs.existsSync(socket), 'a killed server leaves its socket file behind')
  const second = await startServerProcess(socket) // and a new server replaces it
  try {
    const seen = await waitFor('the program to reconnect to the new server', async () =>
      (await processesOn(second.url)).find((p) => p.rangesReceived > 0), 20_000)
    fs.writeFileSync(stop, '')
    const result = await running
    assert.equal(result.code, 0, result.stderr)
    const process = await waitFor('the process to finish on the new server', async () =>
      (await processesOn(second.url)).find((p) => p.pid === seen.pid && p.state === 'disconnected'))
    assert.equal(process.pid, parentPid(result.stdout))
    assert.ok(process.droppedEvents > 0, 'what was lost while the server was down is counted')
    assert.ok(process.rangesReceived + process.droppedEvents <= readTruth(truth).length)
  } finally {
    second.child.kill('SIGTERM')
  }
})

test('a server that never reads cannot block or hang the program', async () => {
  const dir = tempDir()
  const socket = path.join(dir, 'stalled.sock')
  const stalled = net.createServer((s) => s.pause()) // accepts, then never reads
  await new Promise<void>((resolve) => stalled.listen(socket, resolve))
  try {
    const truth = path.join(dir, 'truth')
    const result = await run(fixture, ['--truth', truth, '--threads', '4', '--iterations', '20000', '--hold-us', '2'],
      monitoredEnv(socket, { GILWATCH_SEND_BUFFER_KB: '256', GILWATCH_BUFFER_EVENTS: '256' }), 120_000)
    assert.equal(result.code, 0, result.stderr)
    assert.equal(readTruth(truth).length >= 4 * 20000, true, 'the program did all its work')
  } finally {
    stalled.close()
  }
})

test('a main thread that calls pthread_exit: the process still ends with its last thread', async () => {
  const server = await startTestServer()
  try {
    const truth = path.join(server.dir, 'truth')
    const result = await run(fixture, ['--truth', truth, '--threads', '3', '--iterations', '300', '--main-exits'],
      monitoredEnv(server.socket), 20_000)
    assert.equal(result.code, 0, result.stderr)
    const pid = parentPid(result.stdout)
    const p = await waitFor('the process', async () =>
      (await server.processes()).find((x) => x.pid === pid && x.state === 'disconnected'))
    assert.equal(p.rangesReceived, readTruth(truth).length, 'everything was flushed before the end')
  } finally {
    await server.close()
  }
})

test('no server at all: the program runs normally and prints nothing', async () => {
  const dir = tempDir()
  const result = await run(fixture, ['--truth', path.join(dir, 'truth'), '--threads', '2', '--iterations', '200'],
    monitoredEnv(path.join(dir, 'nobody-listens.sock')))
  assert.equal(result.code, 0)
  assert.equal(result.stderr, '')
})

test('a bad GILWATCH_ADDR turns monitoring off with one clear line, and the program still runs', async () => {
  const dir = tempDir()
  const result = await run(fixture, ['--truth', path.join(dir, 'truth'), '--threads', '2', '--iterations', '50'],
    monitoredEnv('tcp://nowhere'))
  assert.equal(result.code, 0)
  assert.match(result.stderr, /^gilwatch: GILWATCH_ADDR=tcp:\/\/nowhere is not tcp:\/\/HOST:PORT.*monitoring is off/)
  assert.equal(result.stderr.trim().split('\n').length, 1)
})
