// What the CLI writes and prints, against another local user (runuser -u nobody): files are
// created, never followed (docs/security.md, "Files the CLI writes"); names from the program
// reach the terminal escaped; `gilwatch run` checks its socket as the library will; `report`
// and `export` read recordings of any size a chunk at a time.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { encodeGilTotals, encodeHello, encodeStatus, encodeString, encodeThread, StringKind } from '../server/protocol'
import { Recorder } from '../server/recording'
import { Store } from '../server/store'
import { STOCK_PYTHON, asNobody, fixturesDir, gilwatchCli, peakRssMb, tempDir, writeSyntheticRecording } from './helpers'

let shared: string // a world-writable sticky directory, like /tmp
let secretDir: string
let secret: string // root's private file that a planted link points at
const SECRET = 'root\'s secret, not to be overwritten\n'

before(() => {
  shared = tempDir('gilwatch-shared-')
  fs.chmodSync(shared, 0o1777)
  secretDir = tempDir()
  secret = path.join(secretDir, 'secret')
  fs.writeFileSync(secret, SECRET, { mode: 0o600 })
})
after(() => {
  fs.rmSync(shared, { recursive: true, force: true })
  fs.rmSync(secretDir, { recursive: true, force: true })
})

// Each command gets a private socket, so it starts its own server there.
const env = () => ({ ...process.env, GILWATCH_ADDR: path.join(secretDir, `s${Math.random().toString(36).slice(2)}.sock`) })

test('a link another user planted is refused, and the file it points at is untouched', async () => {
  const planted = path.join(shared, 'run.gwrec')
  const made = asNobody(['ln', '-s', secret, planted])
  assert.equal(made.status, 0, made.stderr)
  for (const args of [['run', '--http', '127.0.0.1:0', '--record', planted, '--', 'true'], ['run', '--http', '127.0.0.1:0', '--summary', planted, '--', 'true']]) {
    const result = await gilwatchCli(args, env())
    assert.equal(result.code, 2, result.stderr)
    assert.match(result.stderr, new RegExp(`gilwatch: (the recording|--summary) ${planted.replace(/[.]/g, '\\.')}.* is a symbolic link; gilwatch only writes files it creates: choose another path`))
  }
  assert.equal(fs.readFileSync(secret, 'utf8'), SECRET)
  assert.equal(fs.statSync(secret).mode & 0o777, 0o600)
})

test('a file another user made beforehand is refused, --overwrite or not', async () => {
  const trap = path.join(shared, 'summary.json')
  assert.equal(asNobody(['sh', '-c', `umask 0; : > ${trap}`]).status, 0)
  for (const extra of [[], ['--overwrite']]) {
    const result = await gilwatchCli(['run', '--http', '127.0.0.1:0', '--summary', trap, ...extra, '--', 'true'], env())
    assert.equal(result.code, 2)
    assert.match(result.stderr, /summary\.json belongs to uid \d+, not to you \(uid 0\); gilwatch only writes files it creates/)
  }
  assert.equal(fs.statSync(trap).size, 0, 'nothing of ours reached their file')
})

test('an existing file of one\'s own is replaced only with --overwrite, by a new 0600 file; the program does not run first', async () => {
  const mine = path.join(shared, 'mine.json')
  fs.writeFileSync(mine, 'old', { mode: 0o644 })
  const marker = path.join(secretDir, 'ran')
  const refused = await gilwatchCli(['run', '--http', '127.0.0.1:0', '--json', '--summary', mine, '--', 'touch', marker], env())
  assert.equal(refused.code, 2)
  assert.match(refused.stderr, /mine\.json already exists: give --overwrite to replace it, or choose another path/)
  assert.equal(fs.existsSync(marker), false, 'the program did not run')
  const inode = fs.statSync(mine).ino
  const replaced = await gilwatchCli(['run', '--http', '127.0.0.1:0', '--json', '--overwrite', '--summary', mine, '--', 'touch', marker], env())
  assert.equal(replaced.code, 0, replaced.stderr)
  assert.ok(fs.existsSync(marker))
  const st = fs.statSync(mine)
  assert.equal(st.mode & 0o777, 0o600)
  assert.notEqual(st.ino, inode, 'a new file, renamed over the old one')
  assert.ok(Array.isArray(JSON.parse(fs.readFileSync(mine, 'utf8')).processes))
})

// A recording of one process whose service and thread names try to drive the terminal.
function hostileRecording (file: string): void {
  const store = new Store()
  const recorder = new Recorder({ path: file, maxBytes: 1 << 30 }, store, (message) => { throw new Error(message) })
  const service = 'svc\u001b[2J\u001b]0;owned\u0007\r\ngilwatch: forged line\u202etxt.exe'
  const frames = [
    encodeHello({ pid: 4242, ppid: 1, instance: 99n, monotonicNs: 1n, realtimeNs: 1_700_000_000_000_000_000n, service, executable: '/x', argv: ['x'] }),
    encodeString(StringKind.DOMAIN, 1, 'GIL NVTX Domain'), encodeString(StringKind.MESSAGE, 2, 'Holding GIL'),
    encodeThread(1, 4242, 'worker\u001b[31m\u202eevil'),
    encodeGilTotals(1, [{ interp: 0n, holds: 2n, holdNs: 3_000_000n, longestHoldNs: 2_000_000n, holdBuckets: [0n, 0n, 0n, 0n, 0n, 0n, 0n, 2n] }]),
    encodeStatus(1_000_000_000n)
  ]
  recorder.opened(1, 'uid 0', 1)
  recorder.data(1, Buffer.concat(frames), 2)
  recorder.closed(1, 3)
  recorder.close()
  store.close()
}

test('names reach the terminal with control and bidirectional characters escaped', async () => {
  const file = path.join(secretDir, 'hostile.gwrec')
  hostileRecording(file)
  const result = await gilwatchCli(['report', file])
  assert.equal(result.code, 0, result.stderr)
  // eslint-disable-next-line no-control-regex -- what must not reach a terminal
  assert.doesNotMatch(result.stdout, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/)
  assert.match(result.stdout, /svc\\u001b\[2J\\u001b\]0;owned\\u0007\\r\\ngilwatch: forged line\\u202etxt\.exe \(pid 4242\)/)
  assert.match(result.stdout, /worker\\u001b\[31m\\u202eevil/)
  assert.equal(result.stdout.split('\n').filter((l) => l.startsWith('gilwatch:')).length, 1, 'no forged line')
})

test('gilwatch run passes over a default socket directory another user made, and refuses an unsafe GILWATCH_ADDR', async () => {
  const runtime = tempDir()
  fs.mkdirSync(path.join(runtime, 'gilwatch'), { mode: 0o700 })
  assert.equal(asNobody(['true']).status, 0)
  fs.chownSync(path.join(runtime, 'gilwatch'), 65534, 65534)
  try {
    const base: NodeJS.ProcessEnv = { ...process.env, XDG_RUNTIME_DIR: runtime }
    delete base.GILWATCH_ADDR
    const script = path.join(fixturesDir, 'python', 'counted_storm.py')
    const result = await gilwatchCli(['run', '--http', '127.0.0.1:0', '--', STOCK_PYTHON, script, '2', '1000'], base)
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stderr, /gilwatch: the default socket is not safe to use \(.*\/gilwatch belongs to uid 65534, not to this process's user \(uid 0\).*\); this run uses its own at \/.*\/ingest\.sock/)
    assert.match(result.stderr, /storm-0\s+\d/, 'the program was monitored all the same')
    assert.doesNotMatch(result.stderr, /gilwatch: .*belongs to uid.*not connecting/, 'the library never met the unsafe socket')
    const explicit = await gilwatchCli(['run', '--http', '127.0.0.1:0', '--', 'true'], { ...base, GILWATCH_ADDR: path.join(runtime, 'gilwatch', 'ingest.sock') })
    assert.equal(explicit.code, 2)
    assert.match(explicit.stderr, /^gilwatch: GILWATCH_ADDR=.*\/gilwatch\/ingest\.sock: .*belongs to uid 65534.*; the program would not report there\n$/)
  } finally {
    fs.rmSync(runtime, { recursive: true, force: true })
  }
})

test('the server refuses a socket in a shared directory with advice that fits it', async () => {
  const result = await gilwatchCli(['serve', '--no-http', '--socket', path.join(shared, 'x.sock')])
  assert.equal(result.code, 2)
  assert.match(result.stderr, /is writable by other users \(mode 1777\), who could replace the socket and receive what the processes send: it is a shared directory \(sticky, like \/tmp\): choose a directory of your own/)
  assert.doesNotMatch(result.stderr, /chmod/)
})

test('report and export read big recordings a chunk at a time (peak memory logged, bounded)', async () => {
  const many = path.join(secretDir, 'many.gwrec')
  const manyBytes = writeSyntheticRecording(many, 20_000, 1)
  const report = gilwatchCli(['report', many, '--json'])
  const reportPeak = await peakRssMb(report.child, report)
  const reported = await report
  assert.equal(reported.code, 0, reported.stderr)
  assert.equal(JSON.parse(reported.stdout).processes.length, 20_000, 'every process, however many')
  console.log(`# report: 20 000 processes (${(manyBytes / 2 ** 20).toFixed(0)} MiB recording): peak RSS ${reportPeak.toFixed(0)} MiB`)
  assert.ok(reportPeak < 500, `report peaked at ${reportPeak.toFixed(0)} MiB`)

  const long = path.join(secretDir, 'long.gwrec')
  const longBytes = writeSyntheticRecording(long, 1, 500_000)
  const trace = path.join(secretDir, 'trace.json')
  const exported = gilwatchCli(['export', long, '--perfetto', trace])
  const exportPeak = await peakRssMb(exported.child, exported)
  assert.equal((await exported).code, 0)
  const events = JSON.parse(fs.readFileSync(trace, 'utf8')).traceEvents as Array<{ ph: string }>
  assert.equal(events.filter((e) => e.ph === 'X').length, 500_000)
  assert.equal(fs.statSync(trace).mode & 0o777, 0o600)
  console.log(`# export: 500 000 ranges (${(longBytes / 2 ** 20).toFixed(0)} MiB recording, ${(fs.statSync(trace).size / 2 ** 20).toFixed(0)} MiB of JSON): peak RSS ${exportPeak.toFixed(0)} MiB`)
  assert.ok(exportPeak < 600, `export peaked at ${exportPeak.toFixed(0)} MiB`)
})
