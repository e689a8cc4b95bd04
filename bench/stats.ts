// Summaries for repeated measurements: the machine is noisy, so every row reports a median
// and its spread, and compares against a baseline measured in the same run.
export interface Summary { median: number, min: number, max: number, n: number }

export function summarize (values: number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b)
  return { median: sorted[Math.floor(sorted.length / 2)], min: sorted[0], max: sorted[sorted.length - 1], n: sorted.length }
}

// The 95 % confidence interval of the median, from order statistics (no assumption about the
// distribution): the ranks n/2 ∓ 0.98·√n. What "the spread is smaller than the goal" means
// for a median of paired differences; min–max only grows with more rounds.
export function medianInterval (values: number[]): { low: number, high: number } {
  const sorted = [...values].sort((a, b) => a - b)
  const n = sorted.length
  const k = Math.max(0, Math.floor(n / 2 - 0.98 * Math.sqrt(n)))
  return { low: sorted[k], high: sorted[Math.min(n - 1, n - 1 - k)] }
}

export const fmt = (value: number, digits = 1) => value.toFixed(digits)
export const spread = (s: Summary, digits = 1) => `${fmt(s.median, digits)} [${fmt(s.min, digits)}–${fmt(s.max, digits)}]`

export function table (header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}
