// The `gilwatch` command line.
import fs from 'node:fs'
import path from 'node:path'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { parseAllowedHosts, readTokenFile } from './access'
import { parseAddress, parseHostPort } from './address'
import { parseArgvMode } from './argv'
import { DEFAULT_HTTP_HOST, DEFAULT_HTTP_PORT, DEFAULT_TCP_PORT, defaultSocketPath, paths } from './config'
import { GilwatchError, errors } from './errors'
import { createLogger } from './log'
import { buildPython, patchedVersions } from './python-build'
import { checkedPython, inspectPython, monitoringPlan } from './python-detect'
import { runDemo } from './demo'
import { exportPerfetto } from './perfetto'
import { replay } from './recording'
import { runCommand } from './run'
import { startServer } from './serve'
import { Store } from './store'
import { formatSummary, summarize } from './summary'

const version: string = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')).version

const usage = `gilwatch ${version}: live monitoring of the CPython GIL

Usage:
  gilwatch run [options] -- CMD ARGS...   run CMD with GIL monitoring; a summary at the end
  gilwatch demo                           the dashboard with a live demo program
  gilwatch serve [options]                start the server (ingest, HTTP API, /metrics, dashboard)
  gilwatch env [--python PY]              print the shell lines that make a process report to a server
  gilwatch record FILE [serve options]    serve, and record the raw stream to FILE
  gilwatch report FILE                    the run summary of a recording
  gilwatch export FILE --perfetto OUT     a recording as Chrome trace JSON (opens in Perfetto)
  gilwatch python build 3.X               build a CPython with the NVTX GIL patch; prints its path
  gilwatch help COMMAND                   help for one command

Examples:
  gilwatch run -- python3 my_service.py
  gilwatch run --record run.gwrec --json --summary summary.json -- python3 job.py
  gilwatch export run.gwrec --perfetto trace.json`

const help: Record<string, string> = {
  run: `Usage: gilwatch run [options] -- CMD ARGS...

Runs CMD with GIL monitoring, like \`time\` for the GIL: CMD gets the injection library (and,
for a stock CPython 3.10-3.15, the probe and the thread-name hook) in its environment; its
stdin, stdout, stderr, signals and exit code pass through; when it ends, a summary per
thread goes to stderr: held %, wait %, acquisitions, longest hold (when, how long), hold and
wait p50/p99, and the longest holds. A server is started unless one already listens at
GILWATCH_ADDR (or the default socket); the dashboard URL is printed at the start.

Options:
  --service NAME      the service label (default: the script's name)
  --http HOST:PORT    the dashboard and API of the server started for the run
                      (default ${DEFAULT_HTTP_HOST}:${DEFAULT_HTTP_PORT}, or a free port if taken)
  --record FILE       also record the raw stream to FILE (see gilwatch report / export)
  --record-max-mb N   rotate the recording past N MiB, keeping FILE.1 (default 1024)
  --json              the summary as JSON
  --summary FILE      write the summary to FILE instead of stderr
  --probe / --no-probe  force the probe on or off (default: on for a stock CPython)
  --ingest-token-file F  the token of a server at GILWATCH_ADDR=tcp://... (its --ingest-token-file)
  --quiet             no gilwatch lines besides the summary

Examples:
  gilwatch run -- python3 app.py --port 8080
  gilwatch run --json --summary gil.json -- python3 -m pytest tests/`,
  demo: `Usage: gilwatch demo [--http HOST:PORT] [--python PYTHON] [--seconds N]

Starts a server and runs the bundled demo program (threads doing compression, hashing,
JSON, small writes with fsync, and one making a 250 ms GIL-holding call every few seconds)
on the machine's python3 through the probe. Open the printed URL. Ctrl-C stops it.`,
  record: `Usage: gilwatch record FILE [serve options]

Like \`gilwatch serve\`, and writes every byte it receives to FILE, with arrival times, for
\`gilwatch report\` and \`gilwatch export\`. --record-max-mb N rotates past N MiB (default 1024),
keeping the previous file as FILE.1.`,
  report: `Usage: gilwatch report FILE [--json]

Prints the run summary (per thread held %, wait %, acquisitions, longest hold, p50/p99) of
every process in a recording.`,
  export: `Usage: gilwatch export FILE --perfetto OUT.json

Writes a recording as Chrome trace event JSON: open it at https://ui.perfetto.dev. Each thread
has a track of GIL holds and waits and one of its other NVTX ranges.`,
  serve: `Usage: gilwatch serve [options]

Starts the gilwatch server: it receives NVTX ranges from monitored processes and serves
the HTTP API.

Options:
  --socket PATH        Unix ingest socket (default: ${defaultSocketPath()})
  --no-socket          do not listen on a Unix socket
  --tcp HOST:PORT      also accept processes over TCP (e.g. 127.0.0.1:${DEFAULT_TCP_PORT}; 0.0.0.0 exposes it)
  --http HOST:PORT     HTTP address (default ${DEFAULT_HTTP_HOST}:${DEFAULT_HTTP_PORT}); port 0 picks a free one
  --no-http            no HTTP server
  --recent N           completed ranges kept per thread for the API (default 8192)
  --max-thread-labels N  thread label values per process in /metrics; more fold into "other" (default 20)
  --max-range-keys N   (domain, message) histograms per process in /metrics (default 20)
  --hold-max-window S  seconds covered by python_gil_hold_max_seconds (default 60)
  --argv MODE          command lines in the API and dashboard: program (default: the executable
                       and the script or module, no arguments, which often carry secrets),
                       full, or none
  --allowed-hosts A,B  Host names to answer to besides IP addresses, localhost and *.localhost
                       (".example.com" allows its subdomains); other names get 403
  --auth-token-file F  require the token in F (chmod 600) on everything but /healthz: header
                       "Authorization: Bearer TOKEN", or open the dashboard once as /?token=TOKEN
  --insecure-no-auth   allow a non-loopback --http without --auth-token-file
  --ingest-token-file F  TCP ingest connections must first send the token in F (chmod 600);
                       give processes the same file: gilwatch env --ingest-token-file F
  --insecure-no-ingest-token  allow a non-loopback --tcp without --ingest-token-file
  --quiet              only log errors

Security: docs/security.md. --http on a non-loopback address needs --auth-token-file (or
--insecure-no-auth), --tcp one --ingest-token-file (or --insecure-no-ingest-token).

Examples:
  gilwatch serve
  gilwatch serve --http 0.0.0.0:${DEFAULT_HTTP_PORT} --auth-token-file /etc/gilwatch/token --tcp 127.0.0.1:${DEFAULT_TCP_PORT}`,
  python: `Usage: gilwatch python build VERSION [--disable-gil] [--stock] [--source TARBALL] [--prefix DIR] [--jobs N]

Builds CPython VERSION with gilwatch's NVTX GIL patch (native/cpython/) and prints the
interpreter's path. Without --source, the source comes from the Debian source package
(deb-src entries needed). The build is cached by version and patch hash: a second call
returns at once. About 5 minutes on 2 cores.

Options:
  --disable-gil     free-threaded build (3.13+)
  --stock           the same source without the patch (to compare overhead)
  --source TARBALL  build this Python-3.X.Y tarball instead
  --prefix DIR      install here instead of the cache (.cache/cpython/)
  --jobs N          parallel compile jobs (default: all cores)

Examples:
  gilwatch python build 3.11
  eval "$(gilwatch env)"; $(gilwatch python build 3.11) my_service.py`,
  env: `Usage: gilwatch env [--addr ADDR] [--probe | --python PYTHON]

Prints the environment that makes a process stream its NVTX ranges to a gilwatch server:

  eval "$(gilwatch env --python python3)"
  python3 my_service.py

Options:
  --addr ADDR      where the server listens: a socket path, unix:PATH or tcp://HOST:PORT
                   (default: ${defaultSocketPath()})
  --ingest-token-file F  the server's --ingest-token-file, for TCP (sets GILWATCH_TOKEN_FILE)
  --probe          also preload the probe (LD_PRELOAD), for a stock CPython 3.10-3.15
  --python PYTHON  decide for this interpreter: the probe if it is stock, none if it is
                   built with the NVTX GIL patch`
}

type Options = NonNullable<ParseArgsConfig['options']>

function parse<O extends Options> (command: string, args: string[], options: O) {
  try {
    return parseArgs({ args, options, strict: true as const, allowPositionals: false as const })
  } catch (error) {
    const message = (error as Error).message.replace(/\. To specify a positional argument.*$/s, '')
    throw errors.badFlag(`${message}. Run \`gilwatch help ${command}\` for the options.`)
  }
}

function shellQuote (value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, "'\\''")}'`
}

// What a monitored process needs in its environment. PYTHONPATH (and LD_PRELOAD, with the
// probe) keep what `base` had. `tokenFile` (--ingest-token-file) is checked here and passed
// by name, so the token itself stays out of every child's environment.
export function environmentFor (addr?: string, base: NodeJS.ProcessEnv = process.env, probe = false, tokenFile?: string): Record<string, string> {
  for (const library of [paths.injectionLibrary, ...(probe ? [paths.probeLibrary] : [])]) {
    if (!fs.existsSync(library)) throw errors.missingBuild(`${library} is missing: run \`npm install\` (it builds the native parts)`)
  }
  const prepend = (value: string, rest: string | undefined) => (rest ? `${value}:${rest}` : value)
  return {
    NVTX_INJECTION64_PATH: paths.injectionLibrary,
    GILWATCH_ADDR: addr ? (parseAddress(addr), addr) : defaultSocketPath(),
    ...(tokenFile ? { GILWATCH_TOKEN_FILE: checkedTokenFile(tokenFile) } : {}),
    PYTHONPATH: prepend(paths.pythonHook, base.PYTHONPATH),
    ...(probe ? { LD_PRELOAD: prepend(paths.probeLibrary, base.LD_PRELOAD) } : {})
  }
}

function checkedTokenFile (file: string): string {
  readTokenFile(file, '--ingest-token-file')
  return path.resolve(file)
}

async function serve (args: string[], recordPath?: string): Promise<number> {
  const { values } = parse(recordPath ? 'record' : 'serve', args, {
    'record-max-mb': { type: 'string' },
    socket: { type: 'string' },
    'no-socket': { type: 'boolean' },
    tcp: { type: 'string' },
    http: { type: 'string' },
    'no-http': { type: 'boolean' },
    recent: { type: 'string' },
    'max-thread-labels': { type: 'string' },
    'max-range-keys': { type: 'string' },
    'hold-max-window': { type: 'string' },
    argv: { type: 'string' },
    'allowed-hosts': { type: 'string' },
    'auth-token-file': { type: 'string' },
    'insecure-no-auth': { type: 'boolean' },
    'ingest-token-file': { type: 'string' },
    'insecure-no-ingest-token': { type: 'boolean' },
    quiet: { type: 'boolean' }
  })
  if (values.socket && values['no-socket']) throw errors.badFlag('--socket and --no-socket contradict each other')
  if (values.http && values['no-http']) throw errors.badFlag('--http and --no-http contradict each other')
  if (values.socket && !path.isAbsolute(values.socket)) throw errors.badFlag(`--socket ${values.socket} must be an absolute path`)
  const whole = (flag: string, value: string | undefined, min: number, max: number) => {
    if (value === undefined) return undefined
    const n = Number(value)
    if (!(Number.isInteger(n) && n >= min && n <= max)) throw errors.badFlag(`--${flag} ${value} must be a whole number from ${min} to ${max}`)
    return n
  }
  const recent = whole('recent', values.recent, 16, 1_000_000)
  const maxThreadLabels = whole('max-thread-labels', values['max-thread-labels'], 1, 10_000)
  const maxRangeKeys = whole('max-range-keys', values['max-range-keys'], 0, 10_000)
  const holdMaxWindow = whole('hold-max-window', values['hold-max-window'], 1, 86_400)
  const recordMaxMb = whole('record-max-mb', values['record-max-mb'], 1, 1_000_000) ?? 1024
  if (values['auth-token-file'] && values['insecure-no-auth']) throw errors.badFlag('--auth-token-file and --insecure-no-auth contradict each other')
  const authToken = values['auth-token-file'] ? readTokenFile(values['auth-token-file']) : null
  if (values['ingest-token-file'] && values['insecure-no-ingest-token']) throw errors.badFlag('--ingest-token-file and --insecure-no-ingest-token contradict each other')
  const ingestToken = values['ingest-token-file'] ? readTokenFile(values['ingest-token-file'], '--ingest-token-file') : null
  const logger = createLogger(values.quiet ? 'error' : 'info')
  const server = await startServer({
    socket: values['no-socket'] ? null : (values.socket ?? defaultSocketPath()),
    tcp: values.tcp ? parseHostPort(values.tcp, '--tcp') : null,
    http: values['no-http'] ? null : parseHostPort(values.http ?? `${DEFAULT_HTTP_HOST}:${DEFAULT_HTTP_PORT}`, '--http'),
    recentPerThread: recent,
    maxThreadLabels,
    maxRangeKeys,
    holdMaxWindowMs: holdMaxWindow === undefined ? undefined : holdMaxWindow * 1000,
    argvMode: values.argv === undefined ? undefined : parseArgvMode(values.argv),
    allowedHosts: values['allowed-hosts'] === undefined ? undefined : parseAllowedHosts(values['allowed-hosts']),
    authToken,
    insecureNoAuth: Boolean(values['insecure-no-auth']),
    ingestToken,
    insecureNoIngestToken: Boolean(values['insecure-no-ingest-token']),
    record: recordPath ? { path: recordPath, maxBytes: recordMaxMb * 2 ** 20 } : undefined,
    logger
  })
  if (recordPath) logger.info(`recording to ${recordPath}`)
  for (const a of server.ingest) logger.info(`ingest listening on ${a.kind === 'unix' ? `unix:${a.address}` : a.address}`)
  if (server.httpUrl) logger.info(`HTTP on ${server.httpUrl} (API: ${server.httpUrl}/api/processes)`)
  if (server.httpUrl && authToken) logger.info(`token required: open ${server.httpUrl}/?token=TOKEN once, with the token in ${values['auth-token-file']}`)
  const first = server.ingest[0]
  if (first) {
    let addr = first.kind === 'unix' && first.address === defaultSocketPath() ? '' : ` --addr ${shellQuote(first.address)}`
    if (first.kind === 'tcp' && ingestToken) addr += ` --ingest-token-file ${shellQuote(path.resolve(values['ingest-token-file']!))}`
    logger.info(`monitor a program with: eval "$(npx gilwatch env${addr})"; your-program`)
  }
  await new Promise<void>((resolve) => {
    const stop = () => resolve()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
  await server.close()
  return 0
}

function env (args: string[]): number {
  const { values } = parse('env', args, {
    addr: { type: 'string' }, probe: { type: 'boolean' }, python: { type: 'string' }, 'ingest-token-file': { type: 'string' }
  })
  if (values.probe && values.python) throw errors.badFlag('--probe and --python contradict each other: --python decides by itself')
  let probe = Boolean(values.probe)
  if (values.python) {
    const python = checkedPython(values.python)
    const build = inspectPython(python)
    if (!build) throw errors.missingInterpreter(`${python} did not answer as a CPython 3 interpreter (python -c failed): give the path of a CPython`)
    const plan = monitoringPlan(build)
    // A free-threaded build may still turn its GIL on (PYTHON_GIL=1, or a module that needs
    // it): the probe stays in the environment so that it is seen when it does.
    probe = plan.probe || (build.freeThreaded && !build.patched)
    process.stderr.write(`# ${python}: ${plan.line}\n`)
  }
  const vars = environmentFor(values.addr, {}, probe, values['ingest-token-file'])
  for (const [name, value] of Object.entries(vars)) {
    // PYTHONPATH and LD_PRELOAD are prepended to, not replaced: the evaluating shell expands.
    const tail = name === 'PYTHONPATH' || name === 'LD_PRELOAD' ? `"\${${name}:+:$${name}}"` : ''
    process.stdout.write(`export ${name}=${shellQuote(value)}${tail}\n`)
  }
  return 0
}

async function python (args: string[]): Promise<number> {
  const [action, ...rest] = args
  if (action !== 'build') throw errors.badFlag(`gilwatch python ${action ?? ''}: the only action is "build". Run \`gilwatch help python\``)
  const { values, positionals } = parseArgs({
    args: rest,
    strict: false,
    allowPositionals: true,
    options: { 'disable-gil': { type: 'boolean' }, stock: { type: 'boolean' }, source: { type: 'string' }, prefix: { type: 'string' }, jobs: { type: 'string' } }
  })
  const unknown = Object.keys(values).filter((k) => !['disable-gil', 'stock', 'source', 'prefix', 'jobs'].includes(k))
  if (unknown.length) throw errors.badFlag(`unknown option --${unknown[0]}. Run \`gilwatch help python\` for the options.`)
  const versions = patchedVersions()
  if (positionals.length !== 1 || !versions.includes(positionals[0])) {
    throw errors.badFlag(`give one Python version to build: ${versions.join(' or ')} (e.g. gilwatch python build ${versions[0]})`)
  }
  const jobs = values.jobs === undefined ? undefined : Number(values.jobs)
  if (jobs !== undefined && !(Number.isInteger(jobs) && jobs > 0)) throw errors.badFlag(`--jobs ${values.jobs} must be a positive whole number`)
  const built = await buildPython({
    minor: positionals[0],
    disableGil: Boolean(values['disable-gil']),
    stock: Boolean(values.stock),
    source: values.source as string | undefined,
    prefix: values.prefix as string | undefined,
    jobs
  })
  if (built.cached) process.stderr.write(`Python ${built.version}${values.stock ? ' (stock)' : ' with the NVTX GIL patch'} is already built\n`)
  process.stdout.write(`${built.python}\n`)
  return 0
}

async function run (args: string[]): Promise<number> {
  const split = args.indexOf('--')
  const own = split >= 0 ? args.slice(0, split) : args
  const command = split >= 0 ? args.slice(split + 1) : []
  const { values, positionals } = parseArgs({
    args: own,
    strict: false,
    allowPositionals: true,
    options: {
      service: { type: 'string' },
      http: { type: 'string' },
      record: { type: 'string' },
      'record-max-mb': { type: 'string' },
      json: { type: 'boolean' },
      summary: { type: 'string' },
      probe: { type: 'boolean' },
      'no-probe': { type: 'boolean' },
      'ingest-token-file': { type: 'string' },
      quiet: { type: 'boolean' }
    }
  })
  const known = ['service', 'http', 'record', 'record-max-mb', 'json', 'summary', 'probe', 'no-probe', 'ingest-token-file', 'quiet']
  const unknown = Object.keys(values).find((k) => !known.includes(k))
  if (unknown) throw errors.badFlag(`unknown option --${unknown}. Run \`gilwatch help run\` for the options.`)
  if (positionals.length && split < 0) command.push(...positionals)
  else if (positionals.length) throw errors.badFlag(`unexpected ${positionals[0]} before --: options go before --, the command after it`)
  if (!command.length) throw errors.badFlag('no command to run: gilwatch run [options] -- CMD ARGS... (e.g. gilwatch run -- python3 app.py)')
  if (values.probe && values['no-probe']) throw errors.badFlag('--probe and --no-probe contradict each other')
  const maxMb = values['record-max-mb'] === undefined ? 1024 : Number(values['record-max-mb'])
  if (!(Number.isInteger(maxMb) && maxMb >= 1)) throw errors.badFlag(`--record-max-mb ${values['record-max-mb']} must be a whole number of MiB, 1 or more`)
  return runCommand({
    command,
    service: values.service as string | undefined,
    http: typeof values.http === 'string' ? parseHostPort(values.http, '--http') : undefined,
    record: typeof values.record === 'string' ? { path: values.record, maxBytes: maxMb * 2 ** 20 } : undefined,
    json: Boolean(values.json),
    summaryFile: values.summary as string | undefined,
    probe: values.probe ? true : values['no-probe'] ? false : undefined,
    quiet: Boolean(values.quiet),
    environment: (addr, base, probe) => environmentFor(addr, base, probe, values['ingest-token-file'] as string | undefined)
  })
}

async function demo (args: string[]): Promise<number> {
  const { values } = parse('demo', args, { http: { type: 'string' }, python: { type: 'string' }, seconds: { type: 'string' } })
  const seconds = values.seconds === undefined ? undefined : Number(values.seconds)
  if (seconds !== undefined && !(seconds > 0)) throw errors.badFlag(`--seconds ${values.seconds} must be a positive number`)
  return runDemo({
    python: values.python ?? 'python3',
    http: values.http ? parseHostPort(values.http, '--http') : undefined,
    seconds,
    environment: (addr, base, probe) => environmentFor(addr, base, probe)
  })
}

function recordingArgument (command: string, args: string[]): [string, string[]] {
  const [file, ...rest] = args
  if (!file || file.startsWith('-')) throw errors.badFlag(`gilwatch ${command} needs a recording FILE first. Run \`gilwatch help ${command}\``)
  return [file, rest]
}

function replayed (file: string): Store {
  const store = new Store({ recentPerThread: 5_000_000, retireAfterMs: 1e12 })
  replay(file, store, ({ bytes, total }) => process.stderr.write(`gilwatch: reading ${file}: ${Math.round(bytes / total * 100)} %\r`))
  return store
}

function report (args: string[]): number {
  const [file, rest] = recordingArgument('report', args)
  const { values } = parse('report', rest, { json: { type: 'boolean' } })
  const store = replayed(file)
  const processes = store.processes()
  const summary = summarize(store, processes.map((p) => p.pid))
  process.stdout.write(`${values.json ? JSON.stringify(summary, null, 2) : formatSummary(summary)}\n`)
  store.close()
  return 0
}

function exportCommand (args: string[]): number {
  const [file, rest] = recordingArgument('export', args)
  const { values } = parse('export', rest, { perfetto: { type: 'string' } })
  if (!values.perfetto) throw errors.badFlag('say where to write: gilwatch export FILE --perfetto OUT.json')
  const store = replayed(file)
  const { events, processes } = exportPerfetto(store, values.perfetto)
  process.stderr.write(`gilwatch: wrote ${events} trace events of ${processes} processes to ${values.perfetto} (open it at https://ui.perfetto.dev)\n`)
  store.close()
  return 0
}

export async function main (argv: string[]): Promise<number> {
  const [command, ...args] = argv
  try {
    const own = args.includes('--') ? args.slice(0, args.indexOf('--')) : args
    if (command && help[command] && (own.includes('--help') || own.includes('-h'))) {
      process.stdout.write(`${help[command]}\n`)
      return 0
    }
    switch (command) {
      case 'serve': return await serve(args)
      case 'env': return env(args)
      case 'python': return await python(args)
      case 'run': return await run(args)
      case 'demo': return await demo(args)
      case 'record': {
        const [file, rest] = recordingArgument('record', args)
        return await serve(rest, file)
      }
      case 'report': return report(args)
      case 'export': return exportCommand(args)
      case undefined:
      case '-h':
      case '--help':
        process.stdout.write(`${usage}\n`)
        return 0
      case 'help': {
        const topic = args[0]
        process.stdout.write(`${(topic && help[topic]) || usage}\n`)
        return topic && !help[topic] ? 2 : 0
      }
      case '--version':
        process.stdout.write(`${version}\n`)
        return 0
      default:
        throw errors.unknownCommand(`unknown command "${command}". Commands: run, demo, serve, env, record, report, export, python, help`)
    }
  } catch (error) {
    if (error instanceof GilwatchError) {
      process.stderr.write(`gilwatch: ${error.message}\n`)
      return 2
    }
    throw error
  }
}
