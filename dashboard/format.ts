// Human units for durations and times.
export function duration (ns: number): string {
  if (ns >= 1e9) return `${(ns / 1e9).toFixed(2)} s`
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(1)} ms`
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(1)} µs`
  return `${Math.round(ns)} ns`
}

export function clock (wallMs: number): string {
  const d = new Date(wallMs)
  return `${d.toLocaleTimeString([], { hour12: false })}.${String(d.getMilliseconds()).padStart(3, '0')}`
}

export const percent = (fraction: number) => `${(fraction * 100).toFixed(1)} %`
