// The thread table beside the charts: each thread's share of the charts' range (or of the
// part they are zoomed to) spent holding and waiting for the GIL, its acquisitions and its
// longest hold, most held first. Exact figures (the totals the process sends): over the whole
// run, those the run summary prints; over a range, their increase in whole slots of the
// threads' history, whose span the scope line names.
import { clock, duration, percent } from './format'
import type { ThreadsView } from '../server/shared/views'

export function renderThreads (body: HTMLElement, scope: HTMLElement, more: HTMLElement, view: ThreadsView): void {
  const lifetime = view.durationNs
  scope.textContent = view.widthS
    ? `share of ${duration(lifetime)} from ${clock(view.fromMs ?? 0)} (in ${view.widthS} s steps), most held first`
    : `share of the process's lifetime so far (${duration(lifetime)}), most held first`
  scope.dataset.fromMs = String(view.fromMs ?? '')
  scope.dataset.durationNs = String(lifetime)
  body.replaceChildren(...view.threads.map((t) => {
    const row = document.createElement('tr')
    row.dataset.thread = t.forgottenThreads !== undefined ? '(other threads)' : t.name
    row.dataset.holdNs = String(t.holdNs)
    row.dataset.waitNs = String(t.waitNs)
    row.dataset.acquisitions = String(t.acquisitions)
    row.dataset.longestHoldNs = String(t.longestHoldNs)
    if (t.exited) row.className = 'exited'
    const forgotten = t.forgottenThreads !== undefined
    const cells = [
      forgotten ? 'other threads' : t.name || `tid ${t.tid}`,
      lifetime > 0 ? percent(t.holdNs / lifetime) : '—',
      lifetime > 0 ? percent(t.waitNs / lifetime) : '—',
      t.acquisitions.toLocaleString('en-US')
    ]
    row.append(...cells.map((text, i) => {
      const cell = document.createElement('td')
      cell.textContent = text
      if (i > 0) cell.className = 'number'
      return cell
    }))
    // The longest hold with, below it, when it began: one column keeps the table narrow.
    const longest = document.createElement('td')
    longest.className = 'number longest'
    const hold = document.createElement('span')
    hold.className = 'hold'
    // A range's longest comes from the holds of 1 ms or more seen: shorter ones are not told apart.
    hold.textContent = t.longestHoldNs ? duration(t.longestHoldNs) : view.widthS && t.acquisitions ? '< 1 ms' : '—'
    longest.append(hold)
    if (t.longestHoldNs) {
      const when = document.createElement('div')
      when.className = 'when'
      when.textContent = `at ${clock(t.longestHoldStartMs)}`
      longest.append(when)
    }
    row.append(longest)
    row.cells[0].title = forgotten
      ? `threads no longer listed, together: ${t.forgottenThreads} that exited a while ago (the server keeps their sum, not each), any beyond its thread limit`
      : `${t.name || 'unnamed'} (tid ${t.tid}${t.exited ? ', exited' : ''})`
    return row
  }))
  const hidden = view.total - view.threads.length
  more.hidden = hidden <= 0
  more.textContent = hidden > 0 ? `${hidden} more thread${hidden === 1 ? '' : 's'}, each holding the GIL less` : ''
}
