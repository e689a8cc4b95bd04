// Shared test plumbing: building the C fixtures, starting servers on private addresses,
// running monitored programs and reading their ground truth.
import assert from 'node:assert/strict'
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { chromium, type Browser } from 'playwright-core'
import { paths } from '../server/config'
import { createLogger } from '../server/log'
import { RecordKind, StringKind, encodeGilTotals, encodeHello, encodeRecords, encodeStatus, encodeString, encodeThread, type GilTotalsInit, type Hello, type WireRecord } from '../server/protocol'
import { Recorder } from '../server/recording'
import { MAX_RANGES } from '../server/schemas'
import { startServer, type RunningServer, type ServeOptions } from '../server/start-server'
import { Store, loadAddon } from '../server/store'
import type { CompletedRange, ProcessSnapshot } from '../server/shared/views'

export const repoRoot = path.resolve(__dirname, '..', '..')
export const fixturesDir = path.join(repoRoot, 'test', 'fixtures')
/** A Python program of test/fixtures/python. */
export const script = (name: string): string => path.join(fixturesDir, 'python', name)
const cacheDir = path.join(repoRoot, '.cache', 'fixtures')

export const { findNvtxInclude } = require(path.join(repoRoot, 'scripts', 'find-nvtx.js')) as {
  findNvtxInclude: () => string | null
}

// Stock interpreters on this machine: pyenv's 3.10-3.13, Debian's, and sid's 3.14/3.15
// (wrappers that run them in their chroot under the same pid; built by the pretest as root).
export const { sidPythons, sidRoot } = require(path.join(repoRoot, 'scripts', 'sid-chroot.js')) as
  { sidPythons: () => Record<string, string>, sidRoot: () => string }
export const PYENV_VERSIONS = '/root/.pyenv/versions'
/** pyenv's CPython 3.<minor> here (`minor` as '3.11'), if there is one. */
export function pyenvPython (minor: string): string | undefined {
  const version = fs.existsSync(PYENV_VERSIONS) ? fs.readdirSync(PYENV_VERSIONS).find((v) => v.startsWith(`${minor}.`)) : undefined
  return version ? path.join(PYENV_VERSIONS, version, 'bin', `python${minor}`) : undefined
}
/** The stock interpreter of tests and benches that need just one: pyenv's CPython 3.11.7. */
export const STOCK_PYTHON = path.join(PYENV_VERSIONS, '3.11.7', 'bin', 'python3.11')
export function stockPythons (): string[] {
  return [
    ...['3.10', '3.11', '3.12', '3.13'].flatMap((minor) => pyenvPython(minor) ?? []),
    ...(fs.existsSync('/usr/bin/python3.11') ? ['/usr/bin/python3.11'] : []),
    ...Object.values(sidPythons())
  ]
}

// Compiles a C fixture against the official NVTX v3 headers, once per source version.
export function buildFixture (source: string, options: { shared?: boolean } = {}): string {
  return buildC(path.join(fixturesDir, source), options)
}

export function buildC (file: string, options: { shared?: boolean } = {}): string {
  const source = path.basename(file)
  const text = fs.readFileSync(file)
  const hash = crypto.createHash('sha256').update(text).digest('hex').slice(0, 12)
  const base = path.basename(source, '.c')
  const out = path.join(cacheDir, options.shared ? `lib${base}-${hash}.so` : `${base}-${hash}`)
  if (fs.existsSync(out)) return out
  const include = findNvtxInclude()
  if (!include) throw new Error('NVTX headers not found (set NVTX_INCLUDE_DIR)')
  fs.mkdirSync(cacheDir, { recursive: true })
  const args = ['-O2', '-g', '-Wall', '-Wextra', '-pthread', `-I${include}`, file, '-o', `${out}.tmp`, '-ldl']
  if (options.shared) args.unshift('-shared', '-fPIC')
  execFileSync(process.env.CC ?? 'cc', args, { stdio: 'inherit' })
  fs.renameSync(`${out}.tmp`, out)
  return out
}

export function tempDir (prefix = 'gilwatch-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  fs.chmodSync(dir, 0o700)
  return dir
}

export interface TestServer extends RunningServer {
  socket: string
  dir: string
  get(pathname: string): Promise<any>
  processes(): Promise<ProcessSnapshot[]>
  ranges(instance: string): Promise<CompletedRange[]>
}

export async function startTestServer (options: ServeOptions & { socket?: string } = {}): Promise<TestServer> {
  const dir = tempDir()
  const socket = options.socket ?? path.join(dir, 'ingest.sock')
  const server = await startServer({
    http: { host: '127.0.0.1', port: 0 },
    logger: createLogger('error'),
    ...options,
    socket
  })
  const get = async (pathname: string) => {
    const response = await fetch(`${server.httpUrl}${pathname}`)
    if (!response.ok) throw new Error(`GET ${pathname}: ${response.status} ${await response.text()}`)
    return response.json()
  }
  return Object.assign(server, {
    socket,
    dir,
    get,
    processes: async () => (await get('/api/processes')).processes as ProcessSnapshot[],
    // Every range the server keeps, page by page (an answer carries at most MAX_RANGES).
    ranges: async (instance: string) => {
      const all: CompletedRange[] = []
      for (;;) {
        const page = (await get(`/api/processes/${instance}/ranges?offset=${all.length}&limit=${MAX_RANGES}`)).ranges as CompletedRange[]
        all.push(...page)
        if (page.length < MAX_RANGES) return all
      }
    }
  })
}

export function monitoredEnv (addr: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, NVTX_INJECTION64_PATH: paths.injectionLibrary, GILWATCH_ADDR: addr, ...extra }
}

export interface Finished { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string }

export function run (command: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000, stdin: 'ignore' | 'pipe' = 'ignore'): Promise<Finished> & { child: ChildProcess } {
  const child = spawn(command, args, { env, stdio: [stdin, 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d) => { stdout += d })
  child.stderr!.on('data', (d) => { stderr += d })
  const promise = new Promise<Finished>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${path.basename(command)} did not finish within ${timeoutMs} ms; stderr: ${stderr}`))
    }, timeoutMs)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
  return Object.assign(promise, { child })
}

export async function waitFor<T> (what: string, probe: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value) return value
    } catch (error) {
      last = error
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ''}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/** Process `pid` as `server` shows it once it has ended (its connection closed). */
export function finished (server: { processes: () => Promise<ProcessSnapshot[]> }, pid: number, timeoutMs = 20_000): Promise<ProcessSnapshot> {
  return waitFor(`process ${pid} to disconnect`, async () =>
    (await server.processes()).find((p) => p.pid === pid && p.state !== 'connected'), timeoutMs)
}

// [startNs, endNs]: read before the push and after the pop; [innerStartNs, innerEndNs]: after
// the push and before the pop. The range a tool records lies between the two on any load.
export interface TruthRange {
  tid: number, domain: string, message: string, startNs: number, endNs: number, innerStartNs: number, innerEndNs: number, exited: boolean
}

// Lines written by gil_fixture: R <tid> <domain> <message words...> <start> <end> <inner start> <inner end> [exit]
export function readTruth (file: string): TruthRange[] {
  return fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((line) => {
    const words = line.split(' ')
    const exited = words[words.length - 1] === 'exit'
    if (exited) words.pop()
    const innerEndNs = Number(words.pop())
    const innerStartNs = Number(words.pop())
    const endNs = Number(words.pop())
    const startNs = Number(words.pop())
    const domain = words[2] === 'GIL' ? 'GIL NVTX Domain' : ''
    return { tid: Number(words[1]), domain, message: words.slice(3).join(' '), startNs, endNs, innerStartNs, innerEndNs, exited }
  })
}

/** The ground-truth fixture (ground_truth.py) holds the GIL through usleep(200000) and times
 * the call with its own clock: the hold on "blocker" lasts at least the 200 ms asked for, and
 * at most what the program measured around the call plus 5 ms (the thread returns and exits).
 * On a loaded machine usleep wakes late: that is in the hold and in the program's measure,
 * so the bound follows the program, not a fixed 205 ms. */
export function assertBlockerHold (durationNs: number, stdout: string, what = 'blocker hold'): void {
  const [, , startNs, endNs] = /blocker (\d+) (\d+) (\d+)/.exec(stdout)!.map(Number)
  const measured = endNs - startNs
  assert.ok(durationNs >= 200e6, `${what}: ${durationNs / 1e6} ms, shorter than usleep(200000)`)
  assert.ok(durationNs < measured + 5e6, `${what}: ${durationNs / 1e6} ms, more than 5 ms past the ${measured / 1e6} ms the program measured around usleep`)
}

/** A real Prometheus server on a free loopback port, with `config` (prometheus.yml lines) in
 * `dir`; resolves once it is ready. Its log is in the error when it does not start. */
export interface TestPrometheus {
  url: string
  query: (expr: string) => Promise<Array<{ metric: Record<string, string>, value: [number, string] }>>
  stop: () => Promise<void>
}

export async function startPrometheus (dir: string, config: string[]): Promise<TestPrometheus> {
  const port = await new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo
      probe.close(() => resolve(port))
    })
  })
  const url = `http://127.0.0.1:${port}`
  const file = path.join(dir, 'prometheus.yml')
  fs.writeFileSync(file, [...config, ''].join('\n'))
  const child = spawn('prometheus', [`--config.file=${file}`, `--storage.tsdb.path=${path.join(dir, 'tsdb')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  child.stderr!.on('data', (d) => { log += d })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    await exited
  }
  const query = async (expr: string) => {
    const body = await (await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`)).json() as any
    if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`)
    return body.data.result
  }
  await waitFor('Prometheus to be ready', async () => (await fetch(`${url}/-/ready`).catch(() => null))?.ok, 30_000)
    .catch(async (error) => { await stop(); throw new Error(`${error.message}\n${log}`) })
  return { url, query, stop }
}

export const groupBy = <T>(items: T[], key: (item: T) => string): Map<string, T[]> => {
  const groups = new Map<string, T[]>()
  for (const item of items) {
    const k = key(item)
    const list = groups.get(k)
    if (list) list.push(item)
    else groups.set(k, [item])
  }
  return groups
}

export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

export interface Sample { name: string, labels: Record<string, string>, value: number }

// Prometheus text exposition into samples.
export function parseExposition (text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!match) throw new Error(`unparsable line: ${line}`)
    const labels: Record<string, string> = {}
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]] = pair[2]
    samples.push({ name: match[1], labels, value: Number(match[3]) })
  }
  return samples
}

/** `gilwatch serve` as its own process, on a private socket and free ports: a test can see it
 * die, read its memory and file descriptors, and attack it without sharing its event loop.
 * `args` are more serve flags (--tcp 127.0.0.1:0 picks a free port). */
export interface ServeProcess {
  url: string
  socket: string
  tcp: string | null // tcp://HOST:PORT when --tcp was given
  dir: string
  pid: number
  log(): string
  alive(): boolean
  rssMb(): number
  fds(): number
  signal(name: NodeJS.Signals): void
  stop(): Promise<void>
}

export async function startServeProcess (args: string[] = [], options: { dir?: string } = {}): Promise<ServeProcess> {
  const dir = options.dir ?? tempDir('gilwatch-serve-') // a given one is kept at stop: a restart reuses it
  const socket = path.join(dir, 'ingest.sock')
  const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'gilwatch.js'), 'serve', '--socket', socket, '--http', '127.0.0.1:0', ...args],
    { stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  child.stderr!.on('data', (d) => { log += d })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const url = await waitFor('gilwatch serve to listen', () => /HTTP on (http:\/\/\S+) /.exec(log)?.[1], 20_000)
    .catch((error) => { child.kill('SIGKILL'); throw new Error(`${error.message}\n${log}`) })
  const tcp = /ingest listening on (tcp:\/\/\S+)/.exec(log)?.[1] ?? null
  const status = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1])
  return {
    url,
    socket,
    tcp,
    dir,
    pid: child.pid!,
    log: () => log,
    alive: () => child.exitCode === null && child.signalCode === null,
    rssMb: () => status('VmRSS') / 1024,
    fds: () => fs.readdirSync(`/proc/${child.pid}/fd`).length,
    signal: (name) => { child.kill(name) },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
      if (!options.dir) fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}

/** The honest program of the hostile-client tests: stock CPython through the probe, THREADS
 * threads each making READS os.read calls, each counting its own (counted_storm.py). Resolves,
 * once the program is done and the server has its final totals, to each thread's count and
 * what the server's /metrics says of it. */
export async function countedStorm (server: { url: string, socket: string }, threads = 4, reads = 20_000, env: NodeJS.ProcessEnv = {}):
Promise<Array<{ name: string, reads: number, counted: number }>> {
  const result = await run(STOCK_PYTHON, [script('counted_storm.py'), String(threads), String(reads)],
    monitoredEnv(server.socket, { LD_PRELOAD: paths.probeLibrary, PYTHONPATH: paths.pythonHook, ...env }), 180_000)
  assert.equal(result.code, 0, result.stderr)
  const pid = Number(/pid (\d+)/.exec(result.stdout)![1])
  const processes = async () => (await (await fetch(`${server.url}/api/processes`)).json() as { processes: ProcessSnapshot[] }).processes
  await finished({ processes }, pid, 30_000)
  const samples = parseExposition(await (await fetch(`${server.url}/metrics`)).text())
    .filter((s) => s.name === 'python_gil_acquisitions_total' && s.labels.pid === String(pid))
  return [...result.stdout.matchAll(/^thread (\S+) (\d+) (\d+)$/gm)].map((m) => ({
    name: m[1],
    reads: Number(m[3]),
    counted: samples.filter((s) => s.labels.thread === m[1]).reduce((n, s) => n + s.value, 0)
  }))
}

/** The `gilwatch` command line, as a user runs it. */
export const gilwatchBin = path.join(repoRoot, 'bin', 'gilwatch.js')
export function gilwatchCli (args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 120_000): Promise<Finished> & { child: ChildProcess } {
  return run(process.execPath, [gilwatchBin, ...args], env, timeoutMs)
}

/** Runs `command` as the user nobody (the second local user of the security tests). */
export function asNobody (command: string[], cwd = '/'): { status: number | null, stdout: string, stderr: string } {
  const result = spawnSync('runuser', ['-u', 'nobody', '--', ...command], { encoding: 'utf8', cwd })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

/** Peak RSS of a child process in MiB (VmHWM, polled until it exits). */
export async function peakRssMb (child: ChildProcess, exited: Promise<unknown>): Promise<number> {
  let peak = 0
  const poll = setInterval(() => {
    try {
      const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8')
      peak = Math.max(peak, Number(/^VmHWM:\s+(\d+)/m.exec(status)?.[1] ?? 0) / 1024)
    } catch { /* gone */ }
  }, 20)
  await exited
  clearInterval(poll)
  return peak
}

/** The limits table of one section of docs/security.md: {name: default}. */
export function documentedLimits (docs: string, section: string): Record<string, number> {
  const start = docs.indexOf(`\n## ${section}\n`)
  assert.ok(start >= 0, `docs/security.md has a section "${section}"`)
  const end = docs.indexOf('\n## ', start + 1)
  const text = docs.slice(start, end < 0 ? undefined : end)
  return Object.fromEntries([...text.matchAll(/^\| `(\w+)` \| ([\d ]+) \|/gm)].map((m) => [m[1], Number(m[2].replace(/ /g, ''))]))
}

/** The HELLO frame of a made-up process `pid`, for tests that speak the protocol by hand:
 * instance `pid`, service svc<pid>, its clocks at 1 s (monotonic) and November 2023 (realtime),
 * unless `fields` say otherwise. */
export function hello (pid: number, fields: Partial<Hello> = {}): Buffer {
  return encodeHello({ pid, instance: BigInt(pid), monotonicNs: 1_000_000_000n, realtimeNs: 1_700_000_000_000_000_000n, service: `svc${pid}`, ...fields })
}

/** The GIL's names as a sender defines them: domain 1, "Holding GIL" 2, "Waiting for GIL" 3. */
export const gilStrings = (): Buffer => Buffer.concat([
  encodeString(StringKind.DOMAIN, 1, 'GIL NVTX Domain'),
  encodeString(StringKind.MESSAGE, 2, 'Holding GIL'),
  encodeString(StringKind.MESSAGE, 3, 'Waiting for GIL')
])

/** A recording of `processes` processes with `ranges` GIL holds each (and their totals),
 * written by the real Recorder: for `report` and `export` at scale (tests and bench). */
export function writeSyntheticRecording (file: string, processes: number, ranges: number): number {
  const store = new Store()
  const recorder = new Recorder({ path: file, maxBytes: 2 ** 40 }, store, (message) => { throw new Error(message) })
  const gil = [encodeString(StringKind.DOMAIN, 1, 'GIL NVTX Domain'), encodeString(StringKind.MESSAGE, 2, 'Holding GIL')]
  let at = 1
  for (let p = 0; p < processes; p++) {
    const hello = encodeHello({ pid: 10_000 + p, ppid: 1, instance: BigInt(p + 1), monotonicNs: 1n, realtimeNs: 1_700_000_000_000_000_000n, service: `svc${p}`, executable: '/x', argv: ['x'] })
    const body = [hello, ...gil, encodeThread(1, 10_000 + p, 'main')]
    for (let done = 0; done < ranges;) {
      const records: WireRecord[] = []
      for (let i = 0; i < 20_000 && done < ranges; i++, done++) {
        records.push({ kind: RecordKind.RANGE, domain: 1, message: 2, startNs: BigInt(2e9 + done * 1000), endNs: BigInt(2e9 + done * 1000 + 500) })
      }
      body.push(encodeRecords(1, records))
    }
    body.push(encodeGilTotals(1, [{ interp: 0n, holds: BigInt(ranges), holdNs: BigInt(ranges * 500) }]), encodeStatus(3_000_000_000n))
    recorder.opened(p + 1, 'uid 0', at++)
    recorder.data(p + 1, Buffer.concat(body), at++)
    recorder.closed(p + 1, at++)
  }
  recorder.close()
  store.close()
  return fs.statSync(file).size
}

/** The GIL totals a sender would report for these hold and wait durations (ns), buckets
 * included: what test streams send so that the server counts them (it counts only totals). */
export function totalsFor (holdsNs: number[], waitsNs: number[] = [], interp = 0n): GilTotalsInit {
  const bounds = loadAddon().protocolLayout().durationBucketsSeconds.map((s) => s * 1e9)
  const bucket = (ns: number) => { const i = bounds.findIndex((b) => ns <= b); return i < 0 ? bounds.length : i }
  const holdBuckets = Array.from({ length: bounds.length + 1 }, () => 0n)
  const waitBuckets = Array.from({ length: bounds.length + 1 }, () => 0n)
  for (const ns of holdsNs) holdBuckets[bucket(ns)]++
  for (const ns of waitsNs) waitBuckets[bucket(ns)]++
  const sum = (values: number[]) => BigInt(Math.round(values.reduce((a, b) => a + b, 0)))
  return {
    interp,
    holds: BigInt(holdsNs.length),
    holdNs: sum(holdsNs),
    longestHoldNs: BigInt(Math.round(Math.max(0, ...holdsNs))),
    waits: BigInt(waitsNs.length),
    waitNs: sum(waitsNs),
    longestWaitNs: BigInt(Math.round(Math.max(0, ...waitsNs))),
    holdBuckets,
    waitBuckets
  }
}

/** Debian's Chromium, headless, as every browser test drives it (CHROMIUM overrides the path). */
export function launchBrowser (extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic', ...extraArgs]
  })
}

/** `gilwatch run --record RECORDING -- STOCK_PYTHON SCRIPT ARGS`, its own socket in `dir`: the
 * pid of the program, once it ended. */
export async function recordRun (dir: string, recording: string, scriptName: string, args: string[]): Promise<number> {
  const result = await run(process.execPath, [path.join(repoRoot, 'bin', 'gilwatch.js'), 'run', '--quiet', '--http', '127.0.0.1:0', '--record', recording, '--',
    STOCK_PYTHON, script(scriptName), ...args], { ...process.env, GILWATCH_ADDR: path.join(dir, 'run.sock') }, 60_000)
  assert.equal(result.code, 0, result.stderr)
  return Number(/pid (\d+)/.exec(result.stdout)![1])
}
