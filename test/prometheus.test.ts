// End to end with a real Prometheus (Debian's package) scraping a gilwatch server every
// second and evaluating the shipped rules: the 200 ms ground truth appears as
// python_gil_hold_max_seconds and fires PythonGilLongHold; a 3 s stuck hold fires
// PythonGilStuckHold while it is still going on.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { paths } from '../server/config'
import { buildPython } from '../server/python-build'
import { fixturesDir, monitoredEnv, repoRoot, run, startTestServer, waitFor, type TestServer } from './helpers'

let server: TestServer
let prometheus: ChildProcess
let promUrl: string
let python: string

function freePort (): Promise<number> {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo
      probe.close(() => resolve(port))
    })
  })
}

async function query (expr: string): Promise<Array<{ metric: Record<string, string>, value: [number, string] }>> {
  const response = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`)
  const body = await response.json() as any
  if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`)
  return body.data.result
}

before(async () => {
  python = (await buildPython({ minor: '3.11', log: () => {} })).python
  server = await startTestServer()
  const port = await freePort()
  promUrl = `http://127.0.0.1:${port}`
  const target = new URL(server.httpUrl!).host
  const config = path.join(server.dir, 'prometheus.yml')
  fs.writeFileSync(config, [
    'global:',
    '  scrape_interval: 1s',
    '  evaluation_interval: 500ms',
    'rule_files:',
    `  - ${path.join(repoRoot, 'deploy', 'prometheus', 'gilwatch.rules.yml')}`,
    'scrape_configs:',
    '  - job_name: gilwatch',
    '    static_configs:',
    `      - targets: ['${target}']`,
    ''
  ].join('\n'))
  prometheus = spawn('prometheus', [`--config.file=${config}`, `--storage.tsdb.path=${path.join(server.dir, 'tsdb')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  prometheus.stderr!.on('data', (d) => { log += d })
  await waitFor('Prometheus to be ready', async () => (await fetch(`${promUrl}/-/ready`)).ok, 30_000)
    .catch((error) => { throw new Error(`${error.message}\n${log}`) })
  await waitFor('the first scrape', async () => (await query('up{job="gilwatch"} == 1')).length === 1, 15_000)
})

after(async () => {
  prometheus?.kill('SIGTERM')
  await server?.close()
})

const env = () => monitoredEnv(server.socket, { PYTHONPATH: paths.pythonHook })

test('the 200 ms ground truth: hold max in [0.2, 0.205) and PythonGilLongHold firing', async () => {
  const result = await run(python, [path.join(fixturesDir, 'python', 'ground_truth.py')], env())
  assert.equal(result.code, 0, result.stderr)
  const pid = /pid (\d+)/.exec(result.stdout)![1]
  const [sample] = await waitFor('python_gil_hold_max_seconds of blocker', async () => {
    const found = await query(`python_gil_hold_max_seconds{thread="blocker", pid="${pid}"}`)
    return found.length === 1 && Number(found[0].value[1]) > 0 ? found : undefined
  }, 15_000)
  const seconds = Number(sample.value[1])
  assert.ok(seconds >= 0.2 && seconds < 0.205, `hold max ${seconds} s`)
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
