// The long-holds table: the latest holds above the threshold, or the worst of the whole run,
// who waited meanwhile, and a click that shows the hold on the timeline.
import { describeCause, describeLocation } from '../server/shared/cause'
import { clock, duration } from './format'
import type { LongHold } from '../server/shared/views'

// A hold with a `pid` is one of a service's (of several runs): its thread is named with it.
export function renderLongHolds<Hold extends LongHold & { pid?: number }> (body: HTMLElement, holds: Hold[], onPick: (hold: Hold) => void): void {
  body.replaceChildren(...holds.map((hold) => {
    const row = document.createElement('tr')
    row.dataset.thread = hold.name
    row.dataset.durationNs = String(hold.durationNs)
    if (hold.cause) {
      row.dataset.onCpuNs = String(hold.cause.onCpuNs)
      row.dataset.runqueueNs = String(hold.cause.runqueueNs)
      row.dataset.blockedNs = String(hold.cause.blockedNs)
    }
    const waiters = [...hold.waiters].sort((a, b) => b.waitedNs - a.waitedNs)
      .map((w) => `${w.name} (${duration(w.waitedNs)})`).join(', ')
    const cells = [
      clock(hold.startMs),
      hold.pid === undefined ? hold.name : `${hold.name} (pid ${hold.pid})`,
      `${duration(hold.durationNs)}${hold.ongoing ? ' so far' : ''}`,
      hold.cause ? describeCause(hold.cause) : '—',
      (hold.cause && describeLocation(hold.cause)) || '—',
      waiters || '—'
    ]
    cells.forEach((text, i) => {
      const cell = document.createElement('td')
      cell.textContent = text
      if (i === 2) cell.className = hold.ongoing ? 'duration ongoing' : 'duration'
      row.append(cell)
    })
    row.addEventListener('click', () => onPick(hold))
    return row
  }))
}
