// `gilwatch report FILE --html OUT`: one self-contained HTML page (no script, no request:
// inline CSS and SVG) with, per process, the charts of its whole run, its worst holds with
// their cause, waiters and every thread's timeline around each, and its per-thread table.
// Every text that came from a process is escaped: names are the process's to choose.
import { describeCause, describeLocation } from '../shared/cause'
import {
  LaneKind, SeriesColumn, TIMELINE_ITEM_FIELDS, TIMELINE_KIND_MASK, TimelineItem,
  type ProcessSummary, type SeriesView, type TimelineView, type WorstHold
} from '../shared/views'

export interface ProcessReport {
  summary: ProcessSummary
  series: SeriesView[] // the whole run, from the history's tier that fits
  worst: WorstHold[] // longest first
  timelines: Map<number, TimelineView> // by worst hold id, for the first few
}

export const HTML_TIMELINES = 5 // worst holds per process drawn with their timeline

const escape = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
const ms = (ns: number): string => `${(ns / 1e6).toFixed(1)} ms`
const percent = (part: number, whole: number): string => whole > 0 ? `${(100 * part / whole).toFixed(1)} %` : '—'
const wall = (msSinceEpoch: number): string => new Date(msSinceEpoch).toISOString().replace('T', ' ').replace('Z', ' UTC')
const COLORS = ['#e4572e', '#4c78a8', '#54a24b'] // by LaneKind, as the dashboard

export function htmlHead (title: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<style>
body { font: 14px system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 17px; margin-top: 32px; border-top: 1px solid #ccc; padding-top: 16px; }
table { border-collapse: collapse; margin: 8px 0; } td, th { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.chart { display: inline-block; margin: 4px 12px 4px 0; } .muted { color: #777; }
svg text { font: 11px system-ui, sans-serif; fill: #444; }
</style></head><body>
<h1>${escape(title)}</h1>
`
}

export const htmlFoot = '</body></html>\n'

// A line chart of one or more columns over the run.
function chart (title: string, rows: number[][], lines: Array<{ column: number, color: string, scale?: number, label: string }>): string {
  const W = 440
  const H = 150
  const left = 48
  const bottom = 20
  if (!rows.length) return ''
  const t0 = rows[0][SeriesColumn.WALL]
  const t1 = Math.max(rows[rows.length - 1][SeriesColumn.WALL], t0 + 1)
  const values = lines.flatMap((l) => rows.map((r) => r[l.column] * (l.scale ?? 1)))
  const top = Math.max(...values, 1e-9)
  const x = (t: number) => left + (t - t0) / (t1 - t0) * (W - left - 4)
  const y = (v: number) => (H - bottom) - v / top * (H - bottom - 14)
  const paths = lines.map((l) => `<polyline fill="none" stroke="${l.color}" stroke-width="1.4" points="${
    rows.map((r) => `${x(r[SeriesColumn.WALL]).toFixed(1)},${y(r[l.column] * (l.scale ?? 1)).toFixed(1)}`).join(' ')}"/>`).join('')
  const legend = lines.map((l, i) => `<text x="${left + 4 + i * 130}" y="11" fill="${l.color}">${escape(l.label)}</text>`).join('')
  return `<svg class="chart" width="${W}" height="${H}" role="img" aria-label="${escape(title)}"><title>${escape(title)}</title>
<line x1="${left}" y1="${H - bottom}" x2="${W}" y2="${H - bottom}" stroke="#999"/><line x1="${left}" y1="10" x2="${left}" y2="${H - bottom}" stroke="#999"/>
<text x="2" y="${y(top) + 4}">${top.toPrecision(3)}</text><text x="2" y="${H - bottom}">0</text>
<text x="${left}" y="${H - 4}">${escape(wall(t0).slice(11, 19))}</text><text x="${W - 60}" y="${H - 4}">${escape(wall(t1).slice(11, 19))}</text>
${legend}${paths}</svg>`
}

function charts (series: SeriesView[]): string {
  const main = series.find((s) => s.interp === 0) ?? series[0]
  if (!main) return '<p class="muted">No GIL series.</p>'
  const rows = Array.from({ length: main.rows.length / main.columns }, (_, i) => Array.from(main.rows.slice(i * main.columns, (i + 1) * main.columns)))
  const { HELD, WAITING, ACQUISITIONS, HOLD_P99, HOLD_MAX, WAIT_P99 } = SeriesColumn
  return `<p class="muted">The whole run, a point per ${main.widthS} s.</p>
${chart('GIL held % and threads waiting', rows, [{ column: HELD, color: '#e4572e', scale: 100, label: 'held %' }, { column: WAITING, color: '#4c78a8', label: 'avg threads waiting' }])}
${chart('Acquisitions per second', rows, [{ column: ACQUISITIONS, color: '#e4572e', label: 'acquisitions/s' }])}
${chart('Hold and wait durations (ms)', rows, [{ column: HOLD_MAX, color: '#67001f', scale: 1000, label: 'hold max ms' }, { column: HOLD_P99, color: '#d6604d', scale: 1000, label: 'hold p99 ms' }, { column: WAIT_P99, color: '#4393c3', scale: 1000, label: 'wait p99 ms' }])}`
}

// Every thread's timeline around a worst hold, the hold outlined.
function timelineSvg (timeline: TimelineView, hold: WorstHold): string {
  const W = 900
  const gutter = 170
  const lane = 16
  const span = Math.max(timeline.endNs - timeline.startNs, 1)
  const x = (ns: number) => gutter + Math.max(0, Math.min(1, (ns - timeline.startNs) / span)) * (W - gutter - 4)
  const parts = timeline.lanes.map((l, i) => {
    const top = 4 + i * lane
    let rects = ''
    for (let k = 0; k < l.items.length; k += TIMELINE_ITEM_FIELDS) {
      const kind = (l.items[k + TimelineItem.KIND] & TIMELINE_KIND_MASK) as LaneKind
      const from = x(l.items[k + TimelineItem.START])
      const width = Math.max(x(l.items[k + TimelineItem.END]) - from, 0.6)
      const row = kind === LaneKind.HOLD ? 0 : kind === LaneKind.WAIT ? 5 : 10
      rects += `<rect x="${from.toFixed(1)}" y="${top + row}" width="${width.toFixed(1)}" height="5" fill="${COLORS[kind]}" fill-opacity="${Math.max(0.25, l.items[k + TimelineItem.FILL]).toFixed(2)}"/>`
    }
    return `<text x="2" y="${top + 10}">${escape(l.name.slice(0, 26))}</text>${rects}`
  }).join('\n')
  const holdLane = timeline.lanes.findIndex((l) => l.thread === hold.thread)
  const outline = holdLane < 0 ? '' : `<rect x="${x(hold.startNs).toFixed(1)}" y="${2 + holdLane * lane}" width="${Math.max(x(hold.endNs) - x(hold.startNs), 1).toFixed(1)}" height="${lane - 2}" fill="none" stroke="#000" stroke-width="1.2"/>`
  const height = 8 + timeline.lanes.length * lane + 14
  return `<svg width="${W}" height="${height}" role="img" aria-label="timeline"><title>Every thread from 1 s before the hold to 1 s after: holds (red), waits (blue), other NVTX ranges (green)</title>
${parts}${outline}<text x="${gutter}" y="${height - 2}">−1 s</text><text x="${W - 30}" y="${height - 2}">+1 s</text></svg>`
}

export function processSection (report: ProcessReport): string {
  const s = report.summary
  const heading = `${escape(s.service)} (pid ${s.pid})`
  const threads = s.threads.map((t) => `<tr><td>${escape(t.name)}</td><td class="n">${percent(t.holdNs, s.durationNs)}</td><td class="n">${percent(t.waitNs, s.durationNs)}</td>` +
    `<td class="n">${t.acquisitions}</td><td class="n">${ms(t.longestHoldNs)}</td><td class="n">${ms(t.holdP99Ns)}</td></tr>`).join('\n')
  const worst = report.worst.map((h, i) => {
    const waiters = [...h.waiters].sort((a, b) => b.waitedNs - a.waitedNs).map((w) => `${escape(w.name)} (${ms(w.waitedNs)})`).join(', ')
    const timeline = report.timelines.get(h.id)
    return `<tr class="worst-hold" data-duration-ns="${h.durationNs}"><td class="n">${i + 1}</td><td>${escape(wall(h.startMs))}</td><td>${escape(h.name)}</td><td class="n">${ms(h.durationNs)}</td>` +
      `<td>${h.cause ? escape(describeCause(h.cause)) : '—'}</td><td>${h.cause ? escape(describeLocation(h.cause) || '—') : '—'}</td><td>${waiters || '—'}</td></tr>` +
      (timeline ? `\n<tr><td></td><td colspan="6">${timelineSvg(timeline, h)}</td></tr>` : '')
  }).join('\n')
  return `<h2>${heading}</h2>
<p>${escape(s.argv.join(' '))}<br>started ${escape(wall(s.startMs))}, ran ${(s.durationNs / 1e9).toFixed(1)} s; totals ${escape(s.totals)}${s.droppedEvents ? `; ${s.droppedEvents} events dropped` : ''}</p>
${charts(report.series)}
<h3>Worst holds of the run</h3>
<table><thead><tr><th>#</th><th>When</th><th>Thread</th><th>Held</th><th>Why</th><th>Where (Python)</th><th>Who waited</th></tr></thead><tbody>
${worst || '<tr><td colspan="7">none of 1 ms or more</td></tr>'}
</tbody></table>
<h3>Threads</h3>
<table><thead><tr><th>Thread</th><th>Held</th><th>Waited</th><th>Acquisitions</th><th>Longest hold</th><th>Hold p99</th></tr></thead><tbody>
${threads}
</tbody></table>
`
}
