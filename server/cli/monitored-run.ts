// `gilwatch run -- CMD ARGS…`: runs a program with GIL monitoring, like `time` for the GIL.
// Starts a server unless one already listens at GILWATCH_ADDR, runs CMD with the injection
// (and, for a stock CPython, the probe) in its environment, passes through its stdio,
// signals and exit code, and prints a summary when it ends.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { parseAddress, type Address } from './address'
import { DEFAULT_HTTP_HOST, DEFAULT_HTTP_PORT, defaultSocketPath } from '../config'
import { errors } from '../errors'
import { createLogger } from '../log'
import { inspectPython, looksLikePython, monitoringPlan, resolveExecutable } from '../python-detect'
import { environmentFor } from './monitored-env'
import { startServer, type RunningServer } from '../start-server'
import { checkSocketPath } from '../socket-path'
import { createPrivateFile } from '../private-file'
import type { RecorderTarget } from '../recording'
import { formatSummary, summarize, type RunSummary } from './summary'

export interface RunOptions {
  command: string[]
  service?: string
  http?: { host: string, port: number } // undefined: 127.0.0.1:9477, or a free port if taken
  record?: RecorderTarget
  json: boolean
  summaryFile?: string
  overwrite?: boolean // replace an existing --summary file of one's own
  probe?: boolean // undefined: decide from the interpreter
  quiet: boolean
  tokenFile?: string // --ingest-token-file, passed on to the program by name
}

// Signals sent to `gilwatch run` itself go on to the program. From a terminal, Ctrl-C and
// Ctrl-\ already reach the whole foreground process group, the program included.
const FORWARDED: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGCONT']
const FROM_TERMINAL: NodeJS.Signals[] = ['SIGINT', 'SIGQUIT']

function listening (address: Address): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = address.transport === 'tcp'
      ? net.connect({ host: address.host, port: address.port })
      : net.connect({ path: address.path })
    socket.setTimeout(1000, () => { socket.destroy(); resolve(false) })
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })
}

// Service label: the script of a Python program, else the command's name.
function serviceOf (command: string[]): string {
  const [exe, ...args] = command
  if (looksLikePython(path.basename(exe))) {
    const script = args.find((a) => !a.startsWith('-'))
    if (args[0] === '-m' && args[1]) return args[1]
    if (script) return path.basename(script)
  }
  return path.basename(exe)
}

// Where the program will report: a server already listening at `addr` (GILWATCH_ADDR or the
// default socket) is used as it is, else one is started for the run. A Unix socket is first
// checked as the injection library checks it (server/socket-path.ts), so the run never says
// "reporting to" a socket the program will refuse. The default socket in a directory that is
// not safe (another user made /tmp/gilwatch-UID first) is passed over for a private one;
// an unsafe GILWATCH_ADDR, which the user chose, is an error.
async function serverFor (addr: string, options: RunOptions, log: (line: string) => void): Promise<{ addr: string, server?: RunningServer }> {
  const address = parseAddress(addr, 'GILWATCH_ADDR')
  if (address.transport === 'unix') {
    const verdict = checkSocketPath(address.path)
    if (verdict.kind === 'unsafe') {
      if (process.env.GILWATCH_ADDR) throw errors.unsafeSocketDirectory(`GILWATCH_ADDR=${addr}: ${verdict.why}; the program would not report there`)
      const privateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gilwatch-run-'))
      const socket = path.join(privateDir, 'ingest.sock')
      log(`the default socket is not safe to use (${verdict.why}); this run uses its own at ${socket}`)
      return { addr: socket, server: await startOwnServer(socket, options, privateDir) }
    }
  }
  if (await listening(address)) {
    if (options.record) throw errors.badFlag(`--record needs its own server, but one already listens at ${addr}: record there with \`gilwatch record FILE\`, or stop it`)
    log(`reporting to the gilwatch server at ${addr}`)
    return { addr }
  }
  if (address.transport === 'tcp') {
    throw errors.unreachableServer(`nothing listens at GILWATCH_ADDR=${addr}: start \`gilwatch serve --tcp ...\` there, or unset GILWATCH_ADDR to run a local server`)
  }
  return { addr, server: await startOwnServer(address.path, options) }
}

// `removeDir`: a private directory made for the socket, removed with the server.
async function startOwnServer (socket: string, options: RunOptions, removeDir?: string): Promise<RunningServer> {
  const logger = createLogger('error')
  const wanted = options.http ?? { host: DEFAULT_HTTP_HOST, port: DEFAULT_HTTP_PORT }
  let server: RunningServer
  try {
    server = await startServer({ socket, http: wanted, logger, record: options.record })
  } catch (error) {
    if ((error as { code?: string }).code !== 'GW_ERR_ADDRESS_IN_USE' || options.http) throw error
    server = await startServer({ socket, http: { host: wanted.host, port: 0 }, logger, record: options.record })
  }
  if (!removeDir) return server
  const close = server.close
  return Object.assign(server, {
    close: async () => {
      await close()
      fs.rmSync(removeDir, { recursive: true, force: true })
    }
  })
}

export async function runCommand (options: RunOptions): Promise<number> {
  const log = (line: string) => { if (!options.quiet) process.stderr.write(`gilwatch: ${line}\n`) }
  const [command, ...args] = options.command
  const executable = resolveExecutable(command)
  if (!executable) throw errors.missingInterpreter(`${command}: command not found (give a path, or check PATH)`)
  // A Python is asked what it is before anything is promised; any other command (a shell
  // script, chroot, a launcher) is run as told (--probe to preload the probe).
  let probe = options.probe ?? false
  let monitor = true
  if (options.probe === undefined && looksLikePython(path.basename(executable))) {
    const build = inspectPython(executable, process.env, args)
    if (build) {
      const plan = monitoringPlan(build)
      probe = plan.probe
      monitor = plan.monitor
      log(plan.line)
    }
  }
  // The summary's file is created before the program runs: a path that cannot be written
  // (taken, a link, someone else's) stops here, not after a long run.
  const summaryFd = options.summaryFile === undefined
    ? null
    : createPrivateFile(options.summaryFile, { overwrite: options.overwrite, what: `--summary ${options.summaryFile}` })
  let addr = process.env.GILWATCH_ADDR || defaultSocketPath()
  let server: RunningServer | undefined
  try {
    if (monitor) ({ addr, server } = await serverFor(addr, options, log))
  } catch (error) {
    if (summaryFd !== null) {
      fs.closeSync(summaryFd)
      fs.rmSync(options.summaryFile!, { force: true })
    }
    throw error
  }

  const env = monitor
    ? {
        ...process.env,
        ...environmentFor(addr, process.env, probe, options.tokenFile),
        GILWATCH_SERVICE: options.service ?? process.env.GILWATCH_SERVICE ?? serviceOf(options.command)
      }
    : process.env
  const started = Date.now()
  const child = spawn(executable, args, { stdio: 'inherit', env, argv0: command })
  const spawned = await new Promise<boolean>((resolve) => {
    child.once('spawn', () => resolve(true))
    child.once('error', (error) => {
      process.stderr.write(`gilwatch: cannot run ${command}: ${error.message}\n`)
      resolve(false)
    })
  })
  if (!spawned) {
    await server?.close()
    return 126
  }
  if (server?.httpUrl) log(`dashboard: ${server.httpUrl}/?pid=${child.pid}${probe ? ' (stock CPython: GIL through the probe)' : ''}`)

  const interactive = process.stdin.isTTY
  const handlers = new Map<NodeJS.Signals, () => void>()
  for (const signal of [...FORWARDED, ...FROM_TERMINAL]) {
    const handler = () => {
      if (FROM_TERMINAL.includes(signal) && interactive) return // the program got it too
      child.kill(signal)
    }
    handlers.set(signal, handler)
    process.on(signal, handler)
  }
  // Whatever goes wrong in the server from here on, `run` stays the program's parent: it
  // keeps passing signals and waits for it, so the program is never orphaned and its exit
  // status still comes through. The fault is reported once; the summary may be missing.
  let fault: Error | undefined
  const contain = (error: Error) => {
    if (!fault) process.stderr.write(`gilwatch: internal error, monitoring may be incomplete (the program goes on): ${error.stack ?? error}\n`)
    fault ??= error
  }
  process.on('uncaughtException', contain)
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.once('exit', (c, s) => resolve([c, s])))
  for (const [s, handler] of handlers) process.off(s, handler)
  process.off('uncaughtException', contain)

  let summary: RunSummary | undefined
  if (server) {
    // The program's processes flush their last ranges as they exit.
    const store = server.store
    const deadline = Date.now() + 2000
    while (Date.now() < deadline && store.list().some((p) => p.state === 'connected' && p.pid === child.pid)) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    store.settleRegions() // the program has ended: its totals region holds the final counts
    summary = summarize(store, [child.pid!], started)
    await server.close()
  }
  if (summary) {
    const text = options.json ? JSON.stringify(summary, null, 2) : formatSummary(summary)
    if (summaryFd !== null) fs.writeSync(summaryFd, `${text}\n`)
    else process.stderr.write(`${text}\n`)
  } else if (monitor) {
    log('the summary is on the server the program reported to (its dashboard and /api/processes)')
  }
  if (summaryFd !== null) fs.closeSync(summaryFd)
  if (signal) {
    // Die the way the program died, so shells and supervisors see the same status.
    process.kill(process.pid, signal)
    await new Promise((resolve) => setTimeout(resolve, 1000))
    return 128 + (os.constants.signals[signal] ?? 0)
  }
  return code ?? 1
}
