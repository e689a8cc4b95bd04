// Summaries for repeated measurements: the machine is noisy, so every row reports a median
// and its spread, and compares against a baseline measured in the same run.
export interface Summary { median: number, min: number, max: number, n: number }

export function summarize (values: number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b)
  return { median: sorted[Math.floor(sorted.length / 2)], min: sorted[0], max: sorted[sorted.length - 1], n: sorted.length }
}

export const fmt = (value: number, digits = 1) => value.toFixed(digits)
export const spread = (s: Summary, digits = 1) => `${fmt(s.median, digits)} [${fmt(s.min, digits)}–${fmt(s.max, digits)}]`

export function table (header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}
