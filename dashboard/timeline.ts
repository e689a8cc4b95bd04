// The per-thread GIL timeline, drawn on a canvas in the spirit of uPlot (plain 2D canvas,
// no DOM per item): one lane per thread with its holds (top row) and waits (bottom row),
// and its other NVTX ranges in a thinner row below. Items come downsampled from the server:
// an item may stand for many sub-pixel ranges (count) covering part of its span (fill).
import { describeCause, describeLocation } from '../server/shared/cause'
import {
  LaneKind, TIMELINE_ITEM_FIELDS, TIMELINE_KIND_MASK, TIMELINE_OPEN, TimelineItem, type HoldCause, type TimelineMessage
} from '../server/shared/views'
import { clock, duration } from './format'

const { HOLD, WAIT, USER } = LaneKind

export interface Item { start: number, end: number, kind: LaneKind, open: boolean, count: number, fill: number, message: string }
export interface Lane { thread: number, tid: number, name: string, exited: boolean, items: Item[] }

const COLORS = ['#e4572e', '#4c78a8', '#54a24b'] // by LaneKind
const GUTTER = 180
const AXIS = 22
const ROW = 9 // hold row and wait row
const USER_ROW = 7
const GAP = 5

// What the server sent, kept per lane in time order.
export class TimelineModel {
  readonly lanes = new Map<number, Lane>()
  nowNs = 0
  private wallBaseNs = 0
  private wallBaseMs = 0

  wallMs (ns: number): number { return this.wallBaseMs + (ns - this.wallBaseNs) / 1e6 }

  // pxNs: the width of a pixel at the current zoom; neighbours narrower than that, from
  // consecutive updates, merge into one item as the server merges within an update.
  apply (m: TimelineMessage, full: boolean, keepNs: number, pxNs: number): void {
    if (full) this.lanes.clear()
    const base = m.baseNs
    this.nowNs = base + m.nowUs * 1000
    this.wallBaseNs = base
    this.wallBaseMs = m.wallAtStartMs
    const seen = new Set<number>()
    for (const incoming of m.lanes) {
      seen.add(incoming.thread)
      let lane = this.lanes.get(incoming.thread)
      if (!lane) {
        lane = { thread: incoming.thread, tid: incoming.tid, name: incoming.name, exited: incoming.exited, items: [] }
        this.lanes.set(incoming.thread, lane)
      }
      lane.name = incoming.name
      lane.exited = incoming.exited
      // The update re-sends everything that reaches into its window: keep only what began
      // before it, cut at its start.
      lane.items = lane.items.filter((it) => it.start < base && !it.open)
      for (const it of lane.items) if (it.end > base) it.end = base
      const data = incoming.items
      const lastOfKind: Array<Item | undefined> = [undefined, undefined, undefined]
      for (let i = lane.items.length - 1; i >= 0 && lastOfKind.some((x) => !x); i--) {
        lastOfKind[lane.items[i].kind] ??= lane.items[i]
      }
      const small = (it: Item) => !it.open && (it.count > 1 || it.end - it.start < pxNs)
      const { START, END, KIND, COUNT, FILL, MESSAGE } = TimelineItem
      for (let i = 0; i < data.length; i += TIMELINE_ITEM_FIELDS) {
        const item: Item = {
          start: base + data[i + START] * 1000,
          end: base + data[i + END] * 1000,
          kind: (data[i + KIND] & TIMELINE_KIND_MASK) as LaneKind,
          open: (data[i + KIND] & TIMELINE_OPEN) !== 0,
          count: data[i + COUNT],
          fill: data[i + FILL],
          message: m.strings[data[i + MESSAGE]] ?? ''
        }
        const prev = lastOfKind[item.kind]
        if (prev && small(prev) && small(item) && item.start - prev.end <= pxNs && item.message === prev.message) {
          const busy = prev.fill * (prev.end - prev.start) + item.fill * (item.end - item.start)
          prev.end = Math.max(prev.end, item.end)
          prev.count += item.count
          prev.fill = Math.min(1, busy / (prev.end - prev.start))
          continue
        }
        lane.items.push(item)
        lastOfKind[item.kind] = item
      }
    }
    for (const lane of this.lanes.values()) {
      if (!seen.has(lane.thread)) lane.items = lane.items.filter((it) => !it.open || it.end < base)
      const horizon = this.nowNs - keepNs
      if (lane.items.length && lane.items[0].end < horizon) lane.items = lane.items.filter((it) => it.end >= horizon)
      if (!lane.items.length && !full) this.lanes.delete(lane.thread)
    }
  }
}

interface Hit { lane: Lane, item: Item }

export class TimelineCanvas {
  private readonly canvas: HTMLCanvasElement
  private readonly tooltip: HTMLElement
  private startNs = 0
  private endNs = 1
  private frameRequested = false
  private hovered: { x: number, y: number } | null = null
  private drag: { x: number, startNs: number, endNs: number } | null = null
  lastFrameMs = 0
  drawnItems = 0

  constructor (container: HTMLElement, private readonly model: TimelineModel,
    private readonly onViewChange: (startNs: number, endNs: number) => void, private readonly isPaused: () => boolean,
    private readonly causeOf: (tid: number, startNs: number) => HoldCause | null = () => null) {
    this.canvas = container.querySelector('canvas')!
    this.tooltip = container.querySelector('.tooltip') as HTMLElement
    this.canvas.addEventListener('mousemove', (e) => {
      if (this.drag) {
        const width = this.canvas.clientWidth - GUTTER
        const shift = ((e.offsetX - this.drag.x) / width) * (this.drag.endNs - this.drag.startNs)
        this.setView(this.drag.startNs - shift, this.drag.endNs - shift, true)
        return
      }
      this.hovered = { x: e.offsetX, y: e.offsetY }
      this.showTooltip()
    })
    this.canvas.addEventListener('mouseleave', () => { this.hovered = null; this.tooltip.hidden = true })
    this.canvas.addEventListener('mousedown', (e) => {
      if (this.isPaused()) this.drag = { x: e.offsetX, startNs: this.startNs, endNs: this.endNs }
    })
    window.addEventListener('mouseup', () => { this.drag = null })
    this.canvas.addEventListener('wheel', (e) => {
      if (!this.isPaused()) return
      e.preventDefault()
      const width = this.canvas.clientWidth - GUTTER
      const at = this.startNs + ((e.offsetX - GUTTER) / width) * (this.endNs - this.startNs)
      const factor = e.deltaY > 0 ? 1.25 : 0.8
      const span = Math.max(1e5, (this.endNs - this.startNs) * factor)
      const left = (at - this.startNs) / (this.endNs - this.startNs)
      this.setView(at - span * left, at + span * (1 - left), true)
    }, { passive: false })
  }

  get view () { return { startNs: this.startNs, endNs: this.endNs } }
  widthPx (): number { return Math.max(100, this.canvas.clientWidth - GUTTER) }

  setView (startNs: number, endNs: number, byUser = false): void {
    this.startNs = startNs
    this.endNs = endNs
    if (byUser) this.onViewChange(startNs, endNs)
    this.requestFrame()
  }

  requestFrame (): void {
    if (this.frameRequested) return
    this.frameRequested = true
    requestAnimationFrame(() => {
      this.frameRequested = false
      const t0 = performance.now()
      this.draw()
      this.lastFrameMs = performance.now() - t0
      if (this.hovered) this.showTooltip()
    })
  }

  private lanes (): Lane[] {
    return [...this.model.lanes.values()].sort((a, b) => a.thread - b.thread)
  }

  private laneHeight (lane: Lane): number {
    return 2 * ROW + (lane.items.some((i) => i.kind === USER) ? USER_ROW + 2 : 0) + GAP
  }

  private x (ns: number, width: number): number {
    return GUTTER + ((ns - this.startNs) / (this.endNs - this.startNs)) * width
  }

  private draw (): void {
    const lanes = this.lanes()
    const dpr = window.devicePixelRatio || 1
    const cssWidth = this.canvas.clientWidth
    const cssHeight = AXIS + lanes.reduce((h, l) => h + this.laneHeight(l), 0) + 4
    if (this.canvas.width !== Math.round(cssWidth * dpr) || this.canvas.height !== Math.round(cssHeight * dpr)) {
      this.canvas.width = Math.round(cssWidth * dpr)
      this.canvas.height = Math.round(cssHeight * dpr)
      this.canvas.style.height = `${cssHeight}px`
    }
    const g = this.canvas.getContext('2d')!
    g.setTransform(dpr, 0, 0, dpr, 0, 0)
    g.clearRect(0, 0, cssWidth, cssHeight)
    const width = cssWidth - GUTTER
    this.drawAxis(g, width)
    let y = AXIS
    let drawn = 0
    g.font = '12px system-ui, sans-serif'
    for (const lane of lanes) {
      const height = this.laneHeight(lane)
      g.fillStyle = lane.exited ? '#aaa' : '#222'
      g.fillText(lane.name || `thread ${lane.tid}`, 6, y + 2 * ROW - 3, GUTTER - 12)
      for (const item of lane.items) {
        if (item.end < this.startNs || item.start > this.endNs) continue
        const x0 = Math.max(GUTTER, this.x(item.start, width))
        const x1 = Math.min(GUTTER + width, this.x(item.end, width))
        const rowY = item.kind === HOLD ? y : item.kind === WAIT ? y + ROW : y + 2 * ROW + 2
        const rowH = item.kind === USER ? USER_ROW : ROW - 1
        g.globalAlpha = 0.25 + 0.75 * item.fill
        g.fillStyle = COLORS[item.kind]
        g.fillRect(x0, rowY, Math.max(1, x1 - x0), rowH)
        if (item.open) {
          g.globalAlpha = 1
          g.strokeStyle = COLORS[item.kind]
          g.setLineDash([3, 2])
          g.strokeRect(x0 + 0.5, rowY + 0.5, Math.max(1, x1 - x0) - 1, rowH - 1)
          g.setLineDash([])
        }
        drawn++
      }
      g.globalAlpha = 1
      g.strokeStyle = '#eee'
      g.beginPath()
      g.moveTo(0, y + height - 2)
      g.lineTo(cssWidth, y + height - 2)
      g.stroke()
      y += height
    }
    this.drawnItems = drawn
  }

  private drawAxis (g: CanvasRenderingContext2D, width: number): void {
    const span = this.endNs - this.startNs
    const steps = [1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7, 2e7, 5e7, 1e8, 2e8, 5e8, 1e9, 2e9, 5e9, 1e10]
    const step = steps.find((s) => span / s <= width / 90) ?? 1e10
    g.fillStyle = '#555'
    g.strokeStyle = '#e6e6e6'
    g.font = '11px system-ui, sans-serif'
    for (let t = Math.ceil(this.startNs / step) * step; t <= this.endNs; t += step) {
      const x = this.x(t, width)
      g.beginPath()
      g.moveTo(x, AXIS - 4)
      g.lineTo(x, this.canvas.height)
      g.stroke()
      g.fillText(clock(this.model.wallMs(t)).slice(step >= 1e9 ? 0 : 3, step >= 1e9 ? 8 : 12), x + 3, 12)
    }
  }

  hit (x: number, y: number): Hit | null {
    const width = this.canvas.clientWidth - GUTTER
    let top = AXIS
    for (const lane of this.lanes()) {
      const height = this.laneHeight(lane)
      if (y >= top && y < top + height) {
        const kind = y < top + ROW ? HOLD : y < top + 2 * ROW ? WAIT : USER
        const ns = this.startNs + ((x - GUTTER) / width) * (this.endNs - this.startNs)
        const slop = (3 / width) * (this.endNs - this.startNs)
        let best: Item | null = null
        for (const item of lane.items) {
          if (item.kind === kind && item.start - slop <= ns && item.end + slop >= ns) {
            if (!best || item.end - item.start < best.end - best.start) best = item
          }
        }
        return best ? { lane, item: best } : null
      }
      top += height
    }
    return null
  }

  private showTooltip (): void {
    const h = this.hovered && this.hit(this.hovered.x, this.hovered.y)
    if (!h || !this.hovered) {
      this.tooltip.hidden = true
      return
    }
    const kind = h.item.kind === HOLD ? 'holding the GIL' : h.item.kind === WAIT ? 'waiting for the GIL' : h.item.message || 'NVTX ranges'
    const lines = [
      `${h.lane.name} (tid ${h.lane.tid})`,
      h.item.count > 1 ? `${h.item.count} ranges ${kind}, ${Math.round(h.item.fill * 100)} % of the span` : kind,
      `start ${clock(this.model.wallMs(h.item.start))}`,
      `${h.item.open ? 'so far ' : ''}${duration(h.item.end - h.item.start)}`
    ]
    const cause = h.item.kind === HOLD && h.item.count === 1 ? this.causeOf(h.lane.tid, h.item.start) : null
    if (cause) lines.push(`why: ${describeCause(cause)}`)
    if (cause?.frames.length) lines.push(describeLocation(cause))
    this.tooltip.textContent = lines.join('\n')
    this.tooltip.hidden = false
    this.tooltip.style.left = `${Math.min(this.hovered.x + 12, this.canvas.clientWidth - 240)}px`
    this.tooltip.style.top = `${this.hovered.y + 12}px`
  }
}
