// `gilwatch serve`: the server (ingest, HTTP API, /metrics, dashboard) until SIGINT or
// SIGTERM. `gilwatch record` (./record.ts) is the same server with a recorder.
import path from 'node:path'
import type { Command } from '../cli'
import { DEFAULT_HTTP_HOST, DEFAULT_HTTP_PORT, DEFAULT_TCP_PORT, defaultSocketPath } from '../../config'
import { parseFlags, recordingTarget } from '../flags'
import { createLogger } from '../../log'
import { startServer } from '../../start-server'
import { storeDefaults } from '../../store'
import { shellQuote } from './env'

// A function: the defaults come from the addon, loaded only when help is asked for.
const help = (d = storeDefaults()) => `Usage: gilwatch serve [options]

Starts the gilwatch server: it receives NVTX ranges from monitored processes and serves
the HTTP API.

Options:
  --socket PATH        Unix ingest socket (default: ${defaultSocketPath()})
  --no-socket          do not listen on a Unix socket
  --tcp HOST:PORT      also accept processes over TCP, with --ingest-token-file (e.g.
                       127.0.0.1:${DEFAULT_TCP_PORT}; 0.0.0.0 exposes it)
  --http HOST:PORT     HTTP address (default ${DEFAULT_HTTP_HOST}:${DEFAULT_HTTP_PORT}); port 0 picks a free one
  --no-http            no HTTP server
  --recent N           completed ranges kept per thread for the API (default ${d.recentPerThread})
  --max-thread-labels N  thread label values per process in /metrics; more fold into "other" (default ${d.maxThreadLabels})
  --max-range-keys N   (domain, message) histograms per process in /metrics (default ${d.maxRangeKeys})
  --hold-max-window S  seconds covered by python_gil_hold_max_seconds (default ${d.holdMaxWindowMs / 1000})
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
  --insecure-no-ingest-token  allow --tcp without --ingest-token-file
  --quiet              only log errors
  --overwrite          with \`gilwatch record FILE\`: replace an existing FILE of yours

Security: docs/security.md. --http on a non-loopback address needs --auth-token-file (or
--insecure-no-auth); --tcp needs --ingest-token-file (or --insecure-no-ingest-token), on
loopback too: your own processes use the Unix socket.

Examples:
  gilwatch serve
  gilwatch serve --http 0.0.0.0:${DEFAULT_HTTP_PORT} --auth-token-file /etc/gilwatch/token \\
    --tcp 127.0.0.1:${DEFAULT_TCP_PORT} --ingest-token-file /etc/gilwatch/ingest-token`

// The order in which values are checked, hence which of two wrong flags is reported.
// --record-max-mb is accepted without a recording, as it always was.
const flagNames = [
  'socket', 'no-socket', 'recent', 'max-thread-labels', 'max-range-keys', 'hold-max-window', 'record-max-mb',
  'auth-token-file', 'insecure-no-auth', 'ingest-token-file', 'insecure-no-ingest-token',
  'tcp', 'http', 'no-http', 'argv', 'allowed-hosts', 'quiet', 'overwrite'
] as const

// `command` names the command in errors: `serve`, or `record` with `recordPath`.
export async function serveUntilStopped (command: 'serve' | 'record', args: string[], recordPath?: string): Promise<number> {
  const { values } = parseFlags(command, args, flagNames)
  const authToken = values['auth-token-file']
  const ingestToken = values['ingest-token-file']
  const logger = createLogger(values.quiet ? 'error' : 'info')
  const server = await startServer({
    socket: values['no-socket'] ? null : (values.socket ?? defaultSocketPath()),
    tcp: values.tcp ?? null,
    http: values['no-http'] ? null : (values.http ?? { host: DEFAULT_HTTP_HOST, port: DEFAULT_HTTP_PORT }),
    recentPerThread: values.recent,
    maxThreadLabels: values['max-thread-labels'],
    maxRangeKeys: values['max-range-keys'],
    holdMaxWindowMs: values['hold-max-window'] === undefined ? undefined : values['hold-max-window'] * 1000,
    argvMode: values.argv,
    allowedHosts: values['allowed-hosts'],
    authToken: authToken?.token ?? null,
    insecureNoAuth: Boolean(values['insecure-no-auth']),
    ingestToken: ingestToken?.token ?? null,
    insecureNoIngestToken: Boolean(values['insecure-no-ingest-token']),
    record: recordPath ? recordingTarget(recordPath, values['record-max-mb'], values.overwrite) : undefined,
    logger
  })
  if (recordPath) logger.info(`recording to ${recordPath}`)
  for (const a of server.ingest) logger.info(`ingest listening on ${a.kind === 'unix' ? `unix:${a.address}` : a.address}`)
  if (server.httpUrl) logger.info(`HTTP on ${server.httpUrl} (API: ${server.httpUrl}/api/processes)`)
  if (server.httpUrl && authToken) logger.info(`token required: open ${server.httpUrl}/?token=TOKEN once, with the token in ${authToken.file}`)
  const first = server.ingest[0]
  if (first) {
    let addr = first.kind === 'unix' && first.address === defaultSocketPath() ? '' : ` --addr ${shellQuote(first.address)}`
    if (first.kind === 'tcp' && ingestToken) addr += ` --ingest-token-file ${shellQuote(path.resolve(ingestToken.file))}`
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

export const command: Command = {
  name: 'serve',
  synopsis: 'serve [options]',
  summary: 'start the server (ingest, HTTP API, /metrics, dashboard)',
  get help () { return help() },
  main: (args) => serveUntilStopped('serve', args)
}
