// Words for a long hold's cause (native/injection/sampler.c): used by the run summary, the
// dashboard and the trace export alike. The addon reports system calls by number;
// namedCause() turns them into names once, in server/store.ts, so that the API, the
// dashboard and recordings' reports all carry names. The cause's shape is in server/shared/views.ts.
import { GIL_WAIT_NAME, syscallName } from './syscalls'
import type { HoldCause, NativeHoldCause, PythonFrame } from './views'

export function namedCause (c: NativeHoldCause | null): HoldCause | null {
  if (!c) return null
  return {
    ...c,
    blockedIn: c.blockedIn.map((b) => ({ syscall: syscallName(b.syscall), waitSite: b.waitSite, ns: b.ns })),
    others: c.others.map((o) => ({ syscall: syscallName(o.syscall), threads: o.threads }))
  }
}

export type CauseKind = 'on_cpu' | 'runqueue' | 'blocked'

export function dominantCause (c: HoldCause): CauseKind {
  if (c.blockedNs >= c.onCpuNs && c.blockedNs >= c.runqueueNs) return 'blocked'
  return c.runqueueNs > c.onCpuNs ? 'runqueue' : 'on_cpu'
}

const ms = (ns: number) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(ns >= 1e7 ? 0 : 1)} ms` : `${(ns / 1e3).toFixed(0)} µs`)

// e.g. "blocked 180 ms in folio_wait_writeback (page fault), 1 ms on CPU; meanwhile on average
// 2.6 threads in fdatasync" (the other threads are counted at each sample: an average, often
// fractional, so it says so)
export function describeCause (c: HoldCause): string {
  const parts: Array<[number, string]> = [
    [c.onCpuNs, `${ms(c.onCpuNs)} on CPU`],
    [c.runqueueNs, `${ms(c.runqueueNs)} waiting for a CPU`]
  ]
  const top = c.blockedIn[0]
  const blockedWhere = top && top.ns > c.blockedNs / 2
    ? ` in ${top.waitSite ? `${top.waitSite} (${top.syscall})` : top.syscall}`
    : ''
  parts.push([c.blockedNs, `blocked ${ms(c.blockedNs)}${blockedWhere}`])
  let text = parts.filter(([ns]) => ns > 0).sort((a, b) => b[0] - a[0]).map(([, t]) => t).join(', ')
  if (c.majorFaults) text += `, ${c.majorFaults} major page faults`
  if (c.split === 'bracketed' && text) text += ' (estimated from readings around the hold: it was not sampled)'
  // No sample while it lasted (the sampler did not run, a starved machine): the readings at
  // its ends give the time on CPU, not whether the rest was spent runnable or asleep.
  else if (c.final && c.samples === 0 && text) text += ' (not sampled while it lasted: time off CPU counts as blocked)'
  const meanwhile = c.others.filter((o) => o.threads >= 0.5).slice(0, 2)
    .map((o) => `${o.threads.toFixed(o.threads < 10 ? 1 : 0).replace(/\.0$/, '')} thread${o.threads >= 1.5 ? 's' : ''} ${o.syscall === GIL_WAIT_NAME ? '' : 'in '}${o.syscall}`)
  if (meanwhile.length) text += `; meanwhile on average ${meanwhile.join(', ')}`
  return text || 'not sampled yet'
}

// "f (path/file.py:12)"; "?" for what could not be read.
export function describeFrame (f: PythonFrame): string {
  return `${f.function || '?'} (${f.file || '?'}${f.line ? `:${f.line}` : ''})`
}

// e.g. "at slow_flush (app/store.py:88) < save (app/store.py:120)"; without frames, why
// not when that is known, else "".
export function describeLocation (c: HoldCause, frames = 2): string {
  if (!c.frames.length) {
    if (c.framesMissing === 'locked') return 'frames not readable: the process\'s memory map was locked throughout (msync, a page fault under I/O or an mmap held it)'
    if (c.framesMissing === 'late') return 'frames not read before the hold ended'
    if (c.framesMissing === 'unseen') return 'frames not read: the hold ended before the sampler saw it open'
    return ''
  }
  return `at ${c.frames.slice(0, frames).map(describeFrame).join(' < ')}`
}
