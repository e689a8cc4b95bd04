// `gilwatch export FILE --perfetto OUT`: a recording as Chrome trace event JSON, for
// https://ui.perfetto.dev (server/perfetto.ts builds the events).
import type { Command } from '../cli'
import { errors } from '../errors'
import { parseFlags, recordingFile } from '../flags'
import { exportPerfetto } from '../perfetto'
import { replayed } from './report'

const help = `Usage: gilwatch export FILE --perfetto OUT.json

Writes a recording as Chrome trace event JSON: open it at https://ui.perfetto.dev. Each thread
has a track of GIL holds and waits and one of its other NVTX ranges.`

function exportTrace (args: string[]): number {
  const [file, rest] = recordingFile('export', args)
  const { values } = parseFlags('export', rest, ['perfetto'])
  if (!values.perfetto) throw errors.badFlag('say where to write: gilwatch export FILE --perfetto OUT.json')
  const store = replayed(file)
  const { events, processes } = exportPerfetto(store, values.perfetto)
  process.stderr.write(`gilwatch: wrote ${events} trace events of ${processes} processes to ${values.perfetto} (open it at https://ui.perfetto.dev)\n`)
  store.close()
  return 0
}

export const command: Command = {
  name: 'export',
  synopsis: 'export FILE --perfetto OUT',
  summary: 'a recording as Chrome trace JSON (opens in Perfetto)',
  help,
  main: exportTrace
}
