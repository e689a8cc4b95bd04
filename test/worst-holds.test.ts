// A soak's worst moment is kept: a 300 ms GIL hold, with a thread waiting through it, then
// thousands of shorter long holds on the same thread, which push it out of the thread's ring
// of recent long ranges. Stock CPython 3.11 through the probe, the real server.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { paths } from '../server/config'
import { LaneKind, TIMELINE_ITEM_FIELDS, TIMELINE_KIND_MASK, TimelineItem, type LongHold, type WorstHold } from '../server/shared/views'
import { STOCK_PYTHON, finished, monitoredEnv, run, script, startTestServer, type TestServer } from './helpers'

let server: TestServer
before(async () => { server = await startTestServer() })
after(async () => { await server.close() })

const LATER = 4200 // more than a thread's ring of long ranges (4 096)

test('the worst hold of a run stays listed, with its waiter, cause and timeline, after 4 200 later long holds and the exit', async () => {
  const result = await run(STOCK_PYTHON, [script('worst_hold.py'), String(LATER)],
    monitoredEnv(server.socket, { LD_PRELOAD: paths.probeLibrary, PYTHONPATH: paths.pythonHook }), 120_000)
  assert.equal(result.code, 0, result.stderr)
  const pid = Number(/pid (\d+)/.exec(result.stdout)![1])
  const process = await finished(server, pid)
  const api = (path: string) => fetch(`${server.httpUrl}/api/processes/${process.instance}${path}`)

  // The latest long holds no longer reach it: the scenario does what it means to.
  const latest = (await (await api('/long-holds?thresholdMs=50&limit=1000')).json() as { holds: LongHold[] }).holds
  assert.deepEqual(latest.filter((h) => h.name === 'holder'), [], 'the ring of recent long ranges lost the 300 ms hold')

  const { holds } = await (await api('/worst-holds')).json() as { holds: WorstHold[] }
  assert.ok(holds.length <= 100)
  const worst = holds[0]
  assert.equal(worst.name, 'holder')
  assert.ok(worst.durationNs >= 300e6, `the worst is the 300 ms hold: ${worst.durationNs} ns`)
  for (let i = 1; i < holds.length; i++) assert.ok(holds[i].durationNs <= holds[i - 1].durationNs, 'longest first')
  assert.equal(holds.filter((h) => h.durationNs >= 50e6).length, 1, 'one hold of 50 ms or more')
  assert.ok(holds.every((h) => h.settled), 'all settled once the process ended')
  const waiter = worst.waiters.find((w) => w.name === 'waiter')
  assert.ok(waiter && waiter.waitedNs > 0 && waiter.waitedNs <= worst.durationNs, `waited through it: ${JSON.stringify(worst.waiters)}`)
  assert.ok(worst.cause?.final, `a final cause: ${JSON.stringify(worst.cause)}`)
  assert.ok(worst.cause.frames.length > 0 || worst.cause.framesMissing !== null, 'frames, or why there are none')

  // Every thread's timeline around it, as it was then.
  const response = await api(`/worst-holds/${worst.id}/timeline`)
  assert.equal(response.status, 200)
  const { timeline } = await response.json() as { timeline: { startNs: number, endNs: number, lanes: Array<{ name: string, items: number[] }> } }
  assert.equal(timeline.startNs, worst.startNs - 1e9)
  assert.equal(timeline.endNs, worst.endNs + 1e9)
  const items = (name: string, kind: LaneKind) => {
    const data = timeline.lanes.find((l) => l.name === name)?.items ?? []
    const out: Array<{ start: number, end: number }> = []
    for (let i = 0; i < data.length; i += TIMELINE_ITEM_FIELDS) {
      if ((data[i + TimelineItem.KIND] & TIMELINE_KIND_MASK) === kind) out.push({ start: data[i + TimelineItem.START], end: data[i + TimelineItem.END] })
    }
    return out
  }
  assert.ok(items('holder', LaneKind.HOLD).some((it) => it.start === worst.startNs && it.end === worst.endNs), 'the hold itself, exact')
  assert.ok(items('waiter', LaneKind.WAIT).some((it) => it.start < worst.endNs && it.end > worst.startNs), 'the waiter waiting through it')
  console.log(`# worst hold ${(worst.durationNs / 1e6).toFixed(1)} ms, waiter ${(waiter.waitedNs / 1e6).toFixed(1)} ms, ` +
    `${holds.length} kept, snapshot ${timeline.lanes.reduce((n, l) => n + l.items.length / TIMELINE_ITEM_FIELDS, 0)} items`)

  assert.equal((await api('/worst-holds/4000000/timeline')).status, 404)
})
