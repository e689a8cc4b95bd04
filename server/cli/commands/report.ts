// `gilwatch report FILE`: the run summary of every process in a recording, rebuilt by
// replaying it into a store. Processes are summed up as they end and then forgotten, so a
// recording of any length is read in bounded memory. `export` reads a recording the same
// way, keeping each process's ranges until it has ended.
import fs from 'node:fs'
import { createPrivateFile } from '../../private-file'
import { HTML_TIMELINES, htmlFoot, htmlHead, processSection } from '../html-report'
import type { Command } from '../cli'
import { parseFlags, recordingFile } from '../flags'
import { replay, type ReplayProgress } from '../../recording'
import { Store } from '../../store'
import { formatSummary } from '../summary'
import type { ProcessSummary } from '../../shared/views'

const help = `Usage: gilwatch report FILE [--json] [--html OUT.html [--overwrite]]

Prints the run summary (per thread held %, wait %, acquisitions, longest hold, p50/p99) of
every process in a recording, in the order they ended. --html OUT.html also writes one
self-contained page (no script, no network): per process the charts of its whole run, its
worst holds with their cause, waiters and every thread's timeline around the worst ${HTML_TIMELINES},
and its per-thread table. OUT is created 0600; an existing one of yours is replaced only with
--overwrite.`

// Written synchronously: on a pipe, process.stdout would queue the whole report in memory
// while the reader catches up.
const out = (text: string) => fs.writeSync(1, text)

export const progress = (file: string) => ({ bytes, total }: ReplayProgress) =>
  process.stderr.write(`gilwatch: reading ${file}: ${Math.round(bytes / total * 100)} %\r`)

// A store that retires no process by time and lists every thread: the summary covers the
// whole recording, processes that disconnected during it included.
export function replayStore (rangesPerThread: number): Store {
  return new Store({
    recentPerThread: rangesPerThread,
    retireAfterMs: 1e12,
    limits: { apiThreadsPerProcess: 1e9, apiResponseBytes: 1e15, liveProcesses: 1e9 }
  })
}

function report (args: string[]): number {
  const [file, rest] = recordingFile('report', args)
  const { values } = parseFlags('report', rest, ['json', 'html', 'overwrite'])
  // A summary reads totals, not ranges; the page's timelines are drawn from them.
  const store = replayStore(values.html ? 4096 : 16)
  const html = values.html ? createPrivateFile(values.html, { overwrite: values.overwrite, what: `--html ${values.html}` }) : undefined
  if (html !== undefined) fs.writeSync(html, htmlHead(`gilwatch report of ${file}`))
  const page = (instance: string, summary: ProcessSummary) => {
    if (html === undefined) return
    const worst = store.worstHolds(instance, 100) ?? []
    const timelines = new Map(worst.slice(0, HTML_TIMELINES).flatMap((h) => {
      const timeline = store.worstHoldTimeline(instance, h.id)
      return timeline ? [[h.id, timeline] as const] : []
    }))
    fs.writeSync(html, processSection({ summary, series: store.seriesRange(instance, 0, 4400) ?? [], worst, timelines }))
  }
  let printed = 0
  const print = (summary: ProcessSummary) => {
    if (values.json) {
      const text = JSON.stringify(summary, null, 2).replace(/\n/g, '\n    ')
      out(`${printed ? ',\n' : '{\n  "processes": [\n'}    ${text}`)
    } else {
      out(`${formatSummary({ processes: [summary] })}\n`)
    }
    printed++
  }
  // Each batch of ended processes: summed up, printed, forgotten.
  const flush = () => {
    for (const p of store.list()) {
      if (p.state === 'connected' || p.totals === 'pending') continue
      const summary = store.summary(p.instance)
      if (summary) {
        print(summary)
        page(p.instance, summary)
      }
    }
    store.forgetEnded()
  }
  try {
    replay(file, store, { onProgress: progress(file), onEnded: flush })
  } catch (error) {
    if (html !== undefined) { // no half page left behind
      fs.closeSync(html)
      fs.unlinkSync(values.html!)
    }
    throw error
  }
  // Processes still connected when the recording ended: as they were then.
  for (const p of store.list()) {
    const summary = store.summary(p.instance)
    if (summary) {
      print(summary)
      page(p.instance, summary)
    }
  }
  if (html !== undefined) {
    fs.writeSync(html, htmlFoot)
    fs.closeSync(html)
    process.stderr.write(`gilwatch: wrote ${values.html} (${printed} processes)\n`)
  }
  if (values.json) out(printed ? '\n  ]\n}\n' : '{\n  "processes": []\n}\n')
  else if (!printed) out(`${formatSummary({ processes: [] })}\n`)
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
