// The charts (uPlot): the live 5 minutes, fed one row per second by the server, or a longer
// range of the history (a row per slot of its tier), replaced whole at each update. A drag
// across any chart zooms all four to that span (`zoom`, wall seconds); pan and reset come
// from the page (main.ts), which also makes the thread table and worst holds follow.
import uPlot from 'uplot'
import { SeriesColumn, type SeriesMessage } from '../server/shared/views'

const { WALL, HELD, WAITING, ACQUISITIONS, HOLD_P50, HOLD_P99, HOLD_MAX, WAIT_P50, WAIT_P99, WAIT_MAX, DROP_REQUESTS } = SeriesColumn
const KEEP_SECONDS = 300

interface ChartSpec {
  element: string
  title: string
  series: Array<{ label: string, column: number, scale?: string, axisLabel?: string, color: string, scaleBy?: number }>
  log?: boolean
  unit: string
  yLabel?: string
}

const specs: ChartSpec[] = [
  // WAITING is thread-seconds waited per second: the average number of threads waiting.
  {
    element: 'chart-fractions',
    title: 'GIL held % and avg threads waiting',
    unit: '',
    yLabel: 'held %',
    series: [
      { label: 'held %', column: HELD, color: '#e4572e', scaleBy: 100 },
      { label: 'avg threads waiting', column: WAITING, color: '#4c78a8', scale: 'waiting', axisLabel: 'avg threads waiting' }]
  },
  {
    element: 'chart-acquisitions',
    title: 'Acquisitions and forced switches per second',
    unit: '/s',
    series: [
      { label: 'acquisitions/s', column: ACQUISITIONS, color: '#e4572e' },
      { label: 'forced switches/s', column: DROP_REQUESTS, color: '#9467bd', scale: 'switches' }]
  },
  {
    element: 'chart-holds',
    title: 'Hold duration (ms)',
    unit: 'ms',
    log: true,
    series: [
      { label: 'p50', column: HOLD_P50, color: '#f4a582', scaleBy: 1000 },
      { label: 'p99', column: HOLD_P99, color: '#d6604d', scaleBy: 1000 },
      { label: 'max', column: HOLD_MAX, color: '#67001f', scaleBy: 1000 }]
  },
  {
    element: 'chart-waits',
    title: 'Wait duration (ms)',
    unit: 'ms',
    log: true,
    series: [
      { label: 'p50', column: WAIT_P50, color: '#92c5de', scaleBy: 1000 },
      { label: 'p99', column: WAIT_P99, color: '#4393c3', scaleBy: 1000 },
      { label: 'max', column: WAIT_MAX, color: '#053061', scaleBy: 1000 }]
  }
]

export interface Zoom { from: number, to: number } // wall seconds

export class Charts {
  private readonly plots: uPlot[] = []
  private rows: number[][] = [] // one per second: a series row (SeriesColumn), WALL in seconds
  restarts: number[] = [] // seconds: a service's runs after the first started here
  zoom: Zoom | null = null

  // `onZoom`: the user dragged across a chart (a span) or double-clicked one (null).
  constructor (private readonly onZoom: (zoom: Zoom | null) => void = () => {}) {
    for (const spec of specs) {
      const element = document.getElementById(spec.element)!
      const scales: uPlot.Scales = { x: { time: true } }
      if (spec.log) scales.y = { distr: 3, log: 10 }
      const plot = new uPlot({
        title: spec.title,
        width: element.clientWidth - 8,
        height: 190,
        scales,
        axes: [{}, { size: 50, label: spec.yLabel }, ...spec.series.filter((s) => s.scale)
          .map((s) => ({ scale: s.scale, side: 1, label: s.axisLabel, grid: { show: false } }))],
        series: [{}, ...spec.series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, scale: s.scale ?? 'y', spanGaps: false }))],
        // A drag selects; the selection becomes every chart's zoom (setSelect below).
        cursor: { drag: { x: true, y: false, setScale: false } },
        hooks: {
          draw: [(u) => this.drawRestarts(u)],
          setSelect: [(u) => {
            if (u.select.width < 2) return
            const from = u.posToVal(u.select.left, 'x')
            const to = u.posToVal(u.select.left + u.select.width, 'x')
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false)
            this.setZoom({ from, to })
            this.onZoom(this.zoom)
          }]
        }
      }, [[], ...spec.series.map(() => [])], element)
      element.addEventListener('dblclick', () => {
        if (!this.zoom) return
        this.setZoom(null)
        this.onZoom(null)
      })
      this.plots.push(plot)
    }
    window.addEventListener('resize', () => this.plots.forEach((p, i) =>
      p.setSize({ width: document.getElementById(specs[i].element)!.clientWidth - 8, height: 190 })))
  }

  reset (): void {
    this.rows = []
    this.restarts = []
    this.zoom = null
  }

  // Every chart to `zoom` (null: the whole range of the data).
  setZoom (zoom: Zoom | null): void {
    this.zoom = zoom
    this.draw()
  }

  // The span of the data (wall seconds): what pan is bounded by.
  extent (): Zoom | null {
    return this.rows.length ? { from: this.rows[0][WALL], to: this.rows[this.rows.length - 1][WALL] } : null
  }

  // New seconds (rows replace any already seen for the same second).
  add (series: SeriesMessage[] | undefined): void {
    const main = series?.find((s) => s.interp === 0) ?? series?.[0]
    if (!main) return
    for (let i = 0; i + main.columns <= main.rows.length; i += main.columns) {
      const entry = main.rows.slice(i, i + main.columns)
      entry[WALL] = Math.round(entry[WALL] / 1000)
      const existing = this.rows.findIndex((r) => r[WALL] === entry[WALL])
      if (existing >= 0) this.rows[existing] = entry
      else this.rows.push(entry)
    }
    this.rows.sort((a, b) => a[WALL] - b[WALL])
    if (this.rows.length > KEEP_SECONDS) this.rows.splice(0, this.rows.length - KEEP_SECONDS)
    this.draw()
  }

  private draw (): void {
    this.plots.forEach((plot, p) => {
      const data: uPlot.AlignedData = [
        this.rows.map((r) => r[WALL]),
        ...specs[p].series.map((s) => this.rows.map((r) => {
          const v = r[s.column] * (s.scaleBy ?? 1)
          return specs[p].log && v <= 0 ? null : v
        }))
      ]
      plot.setData(data)
      if (this.zoom) plot.setScale('x', { min: this.zoom.from, max: this.zoom.to })
    })
  }

  // A longer range: every row, replacing what was shown (rates per second over each slot);
  // `restartsMs`: where a service's next run started, drawn as a line.
  replace (series: SeriesMessage[], restartsMs: number[] = []): void {
    this.restarts = restartsMs.map((ms) => ms / 1000)
    const main = series.find((s) => s.interp === 0) ?? series[0]
    const data = main?.rows ?? []
    const columns = main?.columns ?? 1
    this.rows = []
    // Each row as it is: a slot, or the part of one a run lived (two can share a second).
    for (let i = 0; i + columns <= data.length; i += columns) {
      const entry = data.slice(i, i + columns)
      entry[WALL] = entry[WALL] / 1000
      this.rows.push(entry)
    }
    this.rows.sort((a, b) => a[WALL] - b[WALL])
    this.draw()
  }

  // A dashed line where each restart happened.
  private drawRestarts (u: uPlot): void {
    const ctx = u.ctx
    ctx.save()
    ctx.strokeStyle = '#555'
    ctx.setLineDash([4, 3])
    for (const t of this.restarts) {
      const x = u.valToPos(t, 'x', true)
      if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue
      ctx.beginPath()
      ctx.moveTo(x, u.bbox.top)
      ctx.lineTo(x, u.bbox.top + u.bbox.height)
      ctx.stroke()
    }
    ctx.restore()
  }

  points (): number { return this.rows.length }
  // The last `seconds` rows (SeriesColumn; WALL in seconds).
  latest (seconds: number): number[][] { return this.rows.slice(-seconds) }
}
