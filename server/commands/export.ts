// `gilwatch export FILE --perfetto OUT`: a recording as Chrome trace event JSON, for
// https://ui.perfetto.dev (server/perfetto.ts builds the events).
import type { Command } from '../cli'
import { errors } from '../errors'
import { parseFlags, recordingFile } from '../flags'
import { exportPerfetto } from '../perfetto'
import { replayed } from './report'

const help = `Usage: gilwatch export FILE --perfetto OUT.json [--overwrite]

Writes a recording as Chrome trace event JSON: open it at https://ui.perfetto.dev. Each thread
has a track of GIL holds and waits and one of its other NVTX ranges. OUT is created 0600; an
existing OUT of yours is replaced only with --overwrite, never a link or someone else's file.`

function exportTrace (args: string[]): number {
  const [file, rest] = recordingFile('export', args)
  const { values } = parseFlags('export', rest, ['perfetto', 'overwrite'])
  if (!values.perfetto) throw errors.badFlag('say where to write: gilwatch export FILE --perfetto OUT.json')
  const store = replayed(file, 5_000_000)
  const { events, processes } = exportPerfetto(store, values.perfetto, values.overwrite)
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
