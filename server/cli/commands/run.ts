// `gilwatch run [options] -- CMD ARGS...`: CMD with GIL monitoring and a summary when it ends
// (server/cli/monitored-run.ts does the work). Flags go before `--`; after it, CMD's own arguments, which
// gilwatch never reads.
import type { Command } from '../cli'
import { DEFAULT_HTTP_HOST, DEFAULT_HTTP_PORT } from '../../config'
import { errors } from '../../errors'
import { DEFAULT_RECORD_MAX_MB, parseFlags, recordingTarget } from '../flags'
import { runCommand } from '../monitored-run'

const help = `Usage: gilwatch run [options] -- CMD ARGS...

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
  --record-max-mb N   rotate the recording past N MiB, keeping FILE.1 (default ${DEFAULT_RECORD_MAX_MB})
  --json              the summary as JSON
  --summary FILE      write the summary to FILE instead of stderr
  --overwrite         replace an existing --record or --summary FILE of yours (files are
                      created 0600 and never written through a link or into another's file)
  --probe / --no-probe  force the probe on or off (default: on for a stock CPython)
  --ingest-token-file F  the token of a server at GILWATCH_ADDR=tcp://... (its --ingest-token-file)
  --quiet             no gilwatch lines besides the summary

Examples:
  gilwatch run -- python3 app.py --port 8080
  gilwatch run --json --summary gil.json -- python3 -m pytest tests/`

async function run (args: string[]): Promise<number> {
  const split = args.indexOf('--')
  const own = split >= 0 ? args.slice(0, split) : args
  const command = split >= 0 ? args.slice(split + 1) : []
  const { values, positionals } = parseFlags('run', own, [
    'service', 'http', 'record', 'record-max-mb', 'overwrite', 'json', 'summary', 'probe', 'no-probe', 'ingest-token-file', 'quiet'
  ], { positionals: true })
  // Without `--`, the command is what is not a flag: `gilwatch run python3 app.py`.
  if (positionals.length && split < 0) command.push(...positionals)
  else if (positionals.length) throw errors.badFlag(`unexpected ${positionals[0]} before --: options go before --, the command after it`)
  if (!command.length) throw errors.badFlag('no command to run: gilwatch run [options] -- CMD ARGS... (e.g. gilwatch run -- python3 app.py)')
  const tokenFile = values['ingest-token-file']?.file
  return runCommand({
    command,
    service: values.service,
    http: values.http,
    record: values.record === undefined ? undefined : recordingTarget(values.record, values['record-max-mb'], values.overwrite),
    json: Boolean(values.json),
    summaryFile: values.summary,
    overwrite: values.overwrite,
    probe: values.probe ? true : values['no-probe'] ? false : undefined,
    quiet: Boolean(values.quiet),
    tokenFile
  })
}

export const command: Command = {
  name: 'run',
  synopsis: 'run [options] -- CMD ARGS...',
  summary: 'run CMD with GIL monitoring; a summary at the end',
  help,
  main: run
}
