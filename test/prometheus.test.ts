// End to end with a real Prometheus (Debian's package) scraping a gilwatch server every
// second and evaluating the shipped rules: the 200 ms ground truth appears as
// python_gil_hold_max_seconds and fires PythonGilLongHold; a 3 s stuck hold fires
// PythonGilStuckHold while it is still going on.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { paths } from '../server/config'
import { buildPython } from '../server/cli/python-build'
import { assertBlockerHold, fixturesDir, monitoredEnv, repoRoot, run, startPrometheus, startTestServer, waitFor, type TestPrometheus, type TestServer } from './helpers'

let server: TestServer
let prometheus: TestPrometheus
let python: string

const query = (expr: string) => prometheus.query(expr)

before(async () => {
  python = (await buildPython({ minor: '3.11', log: () => {} })).python
  server = await startTestServer()
  prometheus = await startPrometheus(server.dir, [
    'global:',
    '  scrape_interval: 1s',
    '  evaluation_interval: 500ms',
    'rule_files:',
    `  - ${path.join(repoRoot, 'deploy', 'prometheus', 'gilwatch.rules.yml')}`,
    'scrape_configs:',
    '  - job_name: gilwatch',
    '    static_configs:',
    `      - targets: ['${new URL(server.httpUrl!).host}']`
  ])
  await waitFor('the first scrape', async () => (await query('up{job="gilwatch"} == 1')).length === 1, 15_000)
})

after(async () => {
  await prometheus?.stop()
  await server?.close()
})

const env = () => monitoredEnv(server.socket, { PYTHONPATH: paths.pythonHook })

test('the 200 ms ground truth: hold max as long as the blocker held the GIL, and PythonGilLongHold firing', async () => {
  const result = await run(python, [path.join(fixturesDir, 'python', 'ground_truth.py')], env())
  assert.equal(result.code, 0, result.stderr)
  const pid = /pid (\d+)/.exec(result.stdout)![1]
  const [sample] = await waitFor('python_gil_hold_max_seconds of blocker', async () => {
    const found = await query(`python_gil_hold_max_seconds{thread="blocker", pid="${pid}"}`)
    return found.length === 1 && Number(found[0].value[1]) > 0 ? found : undefined
  }, 15_000)
  const seconds = Number(sample.value[1])
  assertBlockerHold(seconds * 1e9, result.stdout, 'python_gil_hold_max_seconds')
  const alerts = await waitFor('PythonGilLongHold to fire', async () => {
    const found = await query(`ALERTS{alertname="PythonGilLongHold", alertstate="firing", pid="${pid}"}`)
    return found.length ? found : undefined
  }, 15_000)
  assert.deepEqual(alerts.map((a) => a.metric.thread), ['blocker'])
})

test('a 3 s stuck hold fires PythonGilStuckHold before it ends', async () => {
  const code = [
    'import ctypes, os, threading, time',
    'print(os.getpid(), flush=True)',
    'time.sleep(1.5)  # let Prometheus see the process first',
    't = threading.Thread(target=lambda: ctypes.PyDLL(None).usleep(3000000), name="stuck")',
    't.start(); t.join()'
  ].join('\n')
  const running = run(python, ['-c', code], env())
  const firing = await waitFor('PythonGilStuckHold to fire', async () => {
    const found = await query('ALERTS{alertname="PythonGilStuckHold", alertstate="firing"}')
    return found.length ? { found, stillRunning: running.child.exitCode === null } : undefined
  }, 15_000)
  assert.equal(firing.stillRunning, true, 'fired while the hold was still going on')
  const result = await running
  assert.equal(result.code, 0, result.stderr)
  assert.equal(firing.found[0].metric.pid, result.stdout.trim())
})

test('every query of the Grafana dashboard is valid PromQL and returns data', async () => {
  const dashboard = JSON.parse(fs.readFileSync(path.join(repoRoot, 'deploy', 'grafana', 'gilwatch-dashboard.json'), 'utf8'))
  for (const panel of dashboard.panels) {
    for (const target of panel.targets) {
      const expr = (target.expr as string).replaceAll('$__rate_interval', '1m').replaceAll('$service', '.*').replaceAll('$pid', '.*')
      const result = await query(expr)
      if (!expr.includes('dropped')) assert.ok(result.length > 0, `${panel.title}: ${expr} returned nothing`)
    }
  }
})
