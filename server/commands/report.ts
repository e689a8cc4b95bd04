// `gilwatch report FILE`: the run summary of every process in a recording, rebuilt by
// replaying it into a store. `export` reads a recording the same way (`replayed`).
import type { Command } from '../cli'
import { parseFlags, recordingFile } from '../flags'
import { replay } from '../recording'
import { Store } from '../store'
import { formatSummary, summarize } from '../summary'

const help = `Usage: gilwatch report FILE [--json]

Prints the run summary (per thread held %, wait %, acquisitions, longest hold, p50/p99) of
every process in a recording.`

// A store that retires no process and lists every thread: the summary covers the whole
// recording, processes that disconnected during it included. `rangesPerThread`: what
// `export` needs kept of each thread's ranges; `report` reads only totals, so its memory
// does not grow with the recording's ranges.
export function replayed (file: string, rangesPerThread = 16): Store {
  const store = new Store({
    recentPerThread: rangesPerThread,
    retireAfterMs: 1e12,
    limits: { apiThreadsPerProcess: 1e9, apiResponseBytes: 1e15, liveProcesses: 1e9 }
  })
  replay(file, store, ({ bytes, total }) => process.stderr.write(`gilwatch: reading ${file}: ${Math.round(bytes / total * 100)} %\r`))
  return store
}

function report (args: string[]): number {
  const [file, rest] = recordingFile('report', args)
  const { values } = parseFlags('report', rest, ['json'])
  const store = replayed(file)
  const summary = summarize(store, store.list().map((p) => p.pid))
  process.stdout.write(`${values.json ? JSON.stringify(summary, null, 2) : formatSummary(summary)}\n`)
  store.close()
  return 0
}

export const command: Command = {
  name: 'report',
  synopsis: 'report FILE',
  summary: 'the run summary of a recording',
  help,
  main: report
}
