// `gilwatch record FILE`: `gilwatch serve` that also writes every byte it receives, with
// arrival times, to FILE, for `report` and `export` (format: docs/protocol.md).
import type { Command } from '../cli'
import { DEFAULT_RECORD_MAX_MB, recordingFile } from '../flags'
import { serveUntilStopped } from './serve'

const help = `Usage: gilwatch record FILE [serve options]

Like \`gilwatch serve\`, and writes every byte it receives to FILE, with arrival times, for
\`gilwatch report\` and \`gilwatch export\`. --record-max-mb N rotates past N MiB (default ${DEFAULT_RECORD_MAX_MB}),
keeping the previous file as FILE.1. FILE is created 0600; an existing FILE of yours is
replaced only with --overwrite, and never one that is a link or someone else's.`

export const command: Command = {
  name: 'record',
  synopsis: 'record FILE [serve options]',
  summary: 'serve, and record the raw stream to FILE',
  help,
  main: (args) => {
    const [file, rest] = recordingFile('record', args)
    return serveUntilStopped('record', rest, file)
  }
}
