// End to end: the C fixture plays CPython's GIL protocol through the official NVTX client;
// the server must see exactly the ranges the fixture recorded as its ground truth.
import assert from 'node:assert/strict'
import path from 'node:path'
import { after, before, test } from 'node:test'
import type { CompletedRange } from '../server/shared/views'
import {
  buildFixture, finished, groupBy, median, monitoredEnv, readTruth, run, startTestServer, waitFor,
  type TestServer, type TruthRange
} from './helpers'

let server: TestServer
let fixture: string
let secondCopy: string

before(async () => {
  fixture = buildFixture('gil_fixture.c')
  secondCopy = buildFixture('second_copy.c', { shared: true })
  server = await startTestServer()
})
after(async () => { await server.close() })

// How far a timestamp may be from CLOCK_MONOTONIC read around it (the TSC clock's bound,
// which clock_units.c checks over 3.5 s of re-anchors).
const CLOCK_SLACK_NS = 2000

function compareWithTruth (truth: TruthRange[], ranges: CompletedRange[], what: string) {
  const key = (r: { tid: number, domain: string, message: string }) => `${r.tid}/${r.domain}/${r.message}`
  const expected = groupBy(truth, key)
  const seen = groupBy(ranges.filter((r) => r.kind === 'range'), key)
  assert.deepEqual([...seen.keys()].sort(), [...expected.keys()].sort(), 'the same (thread, domain, message) groups')
  const startDiffs: number[] = []
  const endDiffs: number[] = []
  for (const [k, wanted] of expected) {
    const got = seen.get(k)!
    assert.equal(got.length, wanted.length, `range count for ${k}`)
    const a = [...wanted].sort((x, y) => x.startNs - y.startNs)
    const b = [...got].sort((x, y) => x.startNs - y.startNs)
    a.forEach((t, i) => {
      // Each push and pop happened between the fixture's CLOCK_MONOTONIC readings around it,
      // however loaded the machine; the library reads the TSC, kept on CLOCK_MONOTONIC within
      // CLOCK_SLACK_NS (native/injection/clock.c), and clock_gettime before it is calibrated.
      startDiffs.push(Math.abs(b[i].startNs - t.startNs))
      assert.ok(b[i].startNs >= t.startNs - CLOCK_SLACK_NS && b[i].startNs <= t.innerStartNs + CLOCK_SLACK_NS,
        `${k} #${i}: start ${b[i].startNs} outside [${t.startNs}, ${t.innerStartNs}] by more than ${CLOCK_SLACK_NS} ns`)
      if (t.exited) {
        assert.equal(b[i].closedBy, 'thread-exit', `${k}: a range left open at thread exit is closed by it`)
        assert.ok(b[i].endNs >= t.startNs)
      } else {
        endDiffs.push(Math.abs(t.endNs - b[i].endNs))
        assert.ok(b[i].endNs >= t.innerEndNs - CLOCK_SLACK_NS && b[i].endNs <= t.endNs + CLOCK_SLACK_NS,
          `${k} #${i}: end ${b[i].endNs} outside [${t.innerEndNs}, ${t.endNs}] by more than ${CLOCK_SLACK_NS} ns`)
        assert.equal(b[i].closedBy, 'pop')
      }
    })
  }
  // How far the tool's clock reading is from the fixture's is what a push costs: reported
  // here, measured by `npm run bench -- --only=nvtx`, never asserted.
  console.log(`# ${what}: median start difference ${median(startDiffs)} ns, end ${median(endDiffs)} ns`)
}

test('the server sees every range the fixture made, with matching times', async () => {
  const truthFile = path.join(server.dir, 'truth-basic')
  const result = await run(fixture, ['--truth', truthFile, '--threads', '4', '--iterations', '400', '--name-threads'],
    monitoredEnv(server.socket))
  assert.equal(result.code, 0, result.stderr)
  const pid = Number(/parent (\d+)/.exec(result.stdout)![1])
  const process = await finished(server, pid)
  assert.equal(process.service, path.basename(fixture))
  assert.equal(process.droppedEvents, 0)
  assert.equal(process.unmatchedPops, 0)
  const ranges = await server.ranges(process.instance)
  compareWithTruth(readTruth(truthFile), ranges, 'basic')

  // Names given with nvtxNameOsThreadA arrive whole (the OS would cut them at 15 bytes).
  const names = process.threads.map((t) => t.name).sort()
  assert.deepEqual(names, [0, 1, 2, 3].map((i) => `fixture-worker-${i}-with-a-long-name`))
  // Per-thread totals agree with the ranges.
  for (const thread of process.threads) {
    const holds = thread.ranges.find((r) => r.message === 'Holding GIL')!
    assert.equal(holds.domain, 'GIL NVTX Domain')
    assert.equal(holds.count, 400)
    const mine = ranges.filter((r) => r.tid === thread.tid && r.message === 'Holding GIL')
    assert.equal(holds.totalNs, mine.reduce((sum, r) => sum + r.durationNs, 0))
    assert.equal(holds.maxNs, Math.max(...mine.map((r) => r.durationNs)))
  }
})

test('a thread that exits holding, a fork child and a second NVTX copy', async () => {
  const truthFile = path.join(server.dir, 'truth-fork')
  const result = await run(fixture, ['--truth', truthFile, '--threads', '3', '--iterations', '200', '--exit-holding',
    '--fork', '--second-copy', secondCopy], monitoredEnv(server.socket))
  assert.equal(result.code, 0, result.stderr)

  // Both NVTX copies got the same handle for "GIL NVTX Domain": one id per domain name.
  const [, mine, theirs] = /domain handles (\d+) (\d+)/.exec(result.stdout)!
  assert.equal(mine, theirs)

  const parentPid = Number(/parent (\d+)/.exec(result.stdout)![1])
  const childPid = Number(/child (\d+)/.exec(result.stdout)![1])
  const parent = await finished(server, parentPid)
  const child = await finished(server, childPid)
  assert.notEqual(child.instance, parent.instance)
  assert.equal(child.ppid, parentPid, 'the fork child reports as its own process')

  const parentTruth = readTruth(truthFile)
  assert.ok(parentTruth.some((r) => r.message === 'second copy'))
  compareWithTruth(parentTruth, await server.ranges(parent.instance), 'parent')
  compareWithTruth(readTruth(`${truthFile}.child`), await server.ranges(child.instance), 'fork child')
  // The child starts clean: none of the parent's threads or ranges.
  const parentTids = new Set(parent.threads.map((t) => t.tid))
  assert.ok(child.threads.every((t) => !parentTids.has(t.tid)))
  assert.equal(child.unmatchedPops, 0)
})

test('fork while another thread\'s long hold is sampled: the child reports only its own threads', async () => {
  const errorsBefore = server.store.counters().decodeErrors
  const result = await run(buildFixture('fork_during_hold.c'), [], monitoredEnv(server.socket))
  assert.equal(result.code, 0, result.stderr)
  const parent = await finished(server, Number(/parent (\d+)/.exec(result.stdout)![1]))
  const child = await finished(server, Number(/child (\d+)/.exec(result.stdout)![1]))
  assert.equal(server.store.counters().decodeErrors, errorsBefore, 'no connection broke the protocol')
  const holds = (ranges: CompletedRange[]) => ranges.filter((r) => r.message === 'Holding GIL').length
  assert.equal(holds(await server.ranges(child.instance)), 100, 'the child\'s holds all arrived')
  assert.equal(child.threads.length, 1)
  // The parent's holder was sampled; the child has no hold of 20 ms to explain.
  const parentHolds = await server.get(`/api/processes/${parent.instance}/long-holds?thresholdMs=100`)
  assert.ok(parentHolds.holds.some((h: any) => h.name === 'holder' && h.cause), JSON.stringify(parentHolds.holds))
  const childHolds = await server.get(`/api/processes/${child.instance}/long-holds?thresholdMs=1`)
  assert.ok(childHolds.holds.every((h: any) => h.cause === null), JSON.stringify(childHolds.holds))
})

test('a thread stuck holding the GIL shows as open while it holds', async () => {
  const truthFile = path.join(server.dir, 'truth-stuck')
  const running = run(fixture, ['--truth', truthFile, '--threads', '2', '--iterations', '20', '--stuck-ms', '3000'],
    monitoredEnv(server.socket))
  const open = await waitFor('an open hold older than 1 s', async () => {
    for (const p of await server.processes()) {
      for (const t of p.threads) {
        const hold = t.open.find((o) => o.message === 'Holding GIL' && o.ageNs > 1e9)
        if (hold && p.state === 'connected') return { process: p, hold }
      }
    }
    return undefined
  }, 10_000)
  assert.equal(open.hold.domain, 'GIL NVTX Domain')
  assert.equal(running.child.exitCode, null, 'seen while the hold is still going on')
  const result = await running
  assert.equal(result.code, 0)
  const done = await finished(server, open.process.pid)
  const holds = (await server.ranges(done.instance)).filter((r) => r.message === 'Holding GIL')
  const longest = Math.max(...holds.map((r) => r.durationNs))
  assert.ok(longest >= 3e9, `the stuck hold completed: ${longest} ns`)
  assert.ok(done.threads.every((t) => t.open.length === 0), 'nothing stays open once it ended')
})
