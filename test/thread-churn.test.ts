// Thread churn from honest programs (a thread per request): the server's memory is bounded by
// time, not by the number of threads or processes ever seen. Exited threads fold into their
// process once the window has passed, retired processes lose their detail, and the freed
// memory goes back to the system. (A retired process leaves /metrics: its numbers are read
// before.)
import assert from 'node:assert/strict'
import path from 'node:path'
import { after, before, test } from 'node:test'
import v8 from 'node:v8'
import vm from 'node:vm'
import { paths } from '../server/config'
import { fixturesDir, monitoredEnv, parseExposition, run, startTestServer, waitFor, type TestServer } from './helpers'

const MB = 2 ** 20
const WINDOW_MS = 3000 // retireAfterMs: exited threads and disconnected processes, shortened from 60 s
const SLACK_MB = 40
const churn = path.join(fixturesDir, 'python', 'thread_churn.py')
// The server's RSS after a full JavaScript GC: what the test's own polling left on the V8
// heap (tens of MB until V8 gets round to it) is not the server's to answer for.
v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void
const rss = () => { gc(); return process.memoryUsage().rss }

let server: TestServer
let idle = 0
before(async () => {
  server = await startTestServer({ retireAfterMs: WINDOW_MS })
  await new Promise((resolve) => setTimeout(resolve, 1000))
  idle = rss()
})
after(async () => { await server.close() })

const env = () => monitoredEnv(server.socket, { LD_PRELOAD: paths.probeLibrary, PYTHONPATH: paths.pythonHook })

// Acquisitions of one process, every thread label together ("other" included).
async function acquisitions (pid: number): Promise<number> {
  const text = await (await fetch(`${server.httpUrl}/metrics`)).text()
  return parseExposition(text)
    .filter((s) => s.name === 'python_gil_acquisitions_total' && s.labels.pid === String(pid))
    .reduce((sum, s) => sum + s.value, 0)
}

async function churnOnce (threads: number): Promise<number> {
  const result = await run('python3', [churn, String(threads), '100'], env(), 300_000)
  assert.equal(result.code, 0, result.stderr)
  assert.match(result.stdout, new RegExp(`threads ${threads}\\b`))
  return Number(/pid (\d+)/.exec(result.stdout)![1])
}

async function settles (what: string): Promise<void> {
  // Once the window has passed everything is retired; allow a few sweeps for it.
  const settled = await waitFor(`${what}: server RSS back near idle`, () => {
    const retired = server.store.list().every((p) => p.state === 'retired' && p.threads <= 1)
    return retired && rss() - idle < SLACK_MB * MB ? rss() : false
  }, WINDOW_MS + 20_000).catch(() => rss())
  console.log(`# ${what}: server RSS idle ${(idle / MB).toFixed(1)} MB, after ${(settled / MB).toFixed(1)} MB`)
  assert.ok(settled - idle < SLACK_MB * MB, `${what}: RSS ${(settled / MB).toFixed(1)} MB vs ${(idle / MB).toFixed(1)} MB idle`)
}

function assertClean (): void {
  const counters = server.store.counters()
  assert.equal(counters.decodeErrors, 0, 'no connection closed for breaking the protocol')
  assert.equal(counters.limitOverflows.threads, 0, 'no thread refused')
}

test('100 000 threads through one process: all counted, memory back near idle after the window', async () => {
  const pid = await churnOnce(100_000)
  assertClean()
  // Each thread takes the GIL when it starts and again after its os.read: at least 2 each.
  await waitFor('the process to disconnect', () => server.store.list().find((p) => p.pid === pid && p.state !== 'connected'), 20_000)
  assert.ok(await acquisitions(pid) >= 200_000, `${await acquisitions(pid)} acquisitions for 100 000 threads`)
  await settles('100 000 threads, one process')
})

test('100 processes of 1 000 threads each: memory back near idle after the window', async () => {
  const pids: number[] = []
  let peak = rss()
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss) }, 50) // no GC: an upper bound
  for (let i = 0; i < 100; i++) pids.push(await churnOnce(1000))
  clearInterval(sampler)
  assertClean()
  // Within the window each exited thread is still kept; a short-lived one costs a few KB
  // (a full timeline history, 24 KB of density bins, is only allocated as it is used).
  console.log(`# 100 processes x 1 000 threads: peak ${((peak - idle) / MB).toFixed(1)} MB over idle`)
  assert.ok(peak - idle < 150 * MB, `peak ${((peak - idle) / MB).toFixed(1)} MB over idle`)
  const last = pids[pids.length - 1]
  assert.ok(await acquisitions(last) >= 2000, `the last process: ${await acquisitions(last)} acquisitions for 1 000 threads`)
  await settles('100 processes x 1 000 threads')
})
