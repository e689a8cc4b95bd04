// `gilwatch export FILE --perfetto OUT`: a recording as Chrome trace event JSON, for
// https://ui.perfetto.dev (server/cli/perfetto.ts builds the events).
import type { Command } from '../cli'
import { errors } from '../../errors'
import { parseFlags, recordingFile } from '../flags'
import { PerfettoExport } from '../perfetto'
import { replay } from '../../recording'
import { progress, replayStore } from './report'

const help = `Usage: gilwatch export FILE --perfetto OUT.json [--overwrite]

Writes a recording as Chrome trace event JSON: open it at https://ui.perfetto.dev. Each thread
has a track of GIL holds and waits and one of its other NVTX ranges. OUT is created 0600; an
existing OUT of yours is replaced only with --overwrite, never a link or someone else's file.`

function exportTrace (args: string[]): number {
  const [file, rest] = recordingFile('export', args)
  const { values } = parseFlags('export', rest, ['perfetto', 'overwrite'])
  if (!values.perfetto) throw errors.badFlag('say where to write: gilwatch export FILE --perfetto OUT.json')
  const trace = new PerfettoExport(values.perfetto, values.overwrite)
  // Every range kept while a process runs; each process written once it ended, then forgotten.
  const store = replayStore(5_000_000)
  const flush = () => {
    for (const p of store.list()) if (p.state !== 'connected' && p.totals !== 'pending') trace.add(store, p.instance)
    store.forgetEnded()
  }
  try {
    replay(file, store, { onProgress: progress(file), onEnded: flush })
    for (const p of store.list()) trace.add(store, p.instance)
  } finally {
    trace.close()
    store.close()
  }
  process.stderr.write(`gilwatch: wrote ${trace.events} trace events of ${trace.processes} processes to ${values.perfetto} (open it at https://ui.perfetto.dev)\n`)
  return 0
}

export const command: Command = {
  name: 'export',
  synopsis: 'export FILE --perfetto OUT',
  summary: 'a recording as Chrome trace JSON (opens in Perfetto)',
  help,
  main: exportTrace
}
