// `gilwatch demo` (`npm start`): the dashboard with a live demo program (server/cli/run-demo.ts does
// the work).
import type { Command } from '../cli'
import { parseFlags } from '../flags'
import { runDemo } from '../run-demo'

const help = `Usage: gilwatch demo [--http HOST:PORT] [--python PYTHON] [--seconds N]

Starts a server and runs the bundled demo program (threads doing compression, hashing,
JSON, small writes with fsync, and one making a 250 ms GIL-holding call every few seconds)
on the machine's python3 through the probe. Open the printed URL. Ctrl-C stops it.`

async function demo (args: string[]): Promise<number> {
  const { values } = parseFlags('demo', args, ['http', 'python', 'seconds'])
  return runDemo({
    python: values.python ?? 'python3',
    http: values.http,
    seconds: values.seconds
  })
}

export const command: Command = {
  name: 'demo',
  synopsis: 'demo',
  summary: 'the dashboard with a live demo program',
  help,
  main: demo
}
