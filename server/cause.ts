// Words for a long hold's cause (native/injection/sampler.c): used by the run summary, the
// dashboard and the trace export alike.
import { syscallName } from './syscalls'

export interface HoldCause {
  final: boolean
  sampledFromNs: number
  sampledNs: number
  onCpuNs: number
  runqueueNs: number
  blockedNs: number
  majorFaults: number
  samples: number
  blockedIn: Array<{ syscall: number, ns: number }>
  others: Array<{ syscall: number, threads: number }>
}

export type CauseKind = 'on_cpu' | 'runqueue' | 'blocked'

export function dominantCause (c: HoldCause): CauseKind {
  if (c.blockedNs >= c.onCpuNs && c.blockedNs >= c.runqueueNs) return 'blocked'
  return c.runqueueNs > c.onCpuNs ? 'runqueue' : 'on_cpu'
}

const ms = (ns: number) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(ns >= 1e7 ? 0 : 1)} ms` : `${(ns / 1e3).toFixed(0)} µs`)

// e.g. "blocked 180 ms in clock_nanosleep, 1 ms on CPU; meanwhile 3 threads in fdatasync"
export function describeCause (c: HoldCause): string {
  const parts: Array<[number, string]> = [
    [c.onCpuNs, `${ms(c.onCpuNs)} on CPU`],
    [c.runqueueNs, `${ms(c.runqueueNs)} waiting for a CPU`]
  ]
  const top = c.blockedIn[0]
  const blockedWhere = top && top.ns > c.blockedNs / 2 ? ` in ${syscallName(top.syscall)}` : ''
  parts.push([c.blockedNs, `blocked ${ms(c.blockedNs)}${blockedWhere}`])
  let text = parts.filter(([ns]) => ns > 0).sort((a, b) => b[0] - a[0]).map(([, t]) => t).join(', ')
  if (c.majorFaults) text += `, ${c.majorFaults} major page faults`
  const meanwhile = c.others.filter((o) => o.threads >= 0.5).slice(0, 2)
    .map((o) => `${o.threads.toFixed(o.threads < 10 ? 1 : 0).replace(/\.0$/, '')} thread${o.threads >= 1.5 ? 's' : ''} ${o.syscall === -3 ? '' : 'in '}${syscallName(o.syscall)}`)
  if (meanwhile.length) text += `; meanwhile ${meanwhile.join(', ')}`
  return text || 'not sampled yet'
}
