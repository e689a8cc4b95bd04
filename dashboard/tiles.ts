// The summary tiles above the charts.
export interface Tile { label: string, value: string, detail?: string }

export function renderTiles (container: HTMLElement, tiles: Tile[]): void {
  container.replaceChildren(...tiles.map((t) => {
    const tile = document.createElement('div')
    tile.className = 'tile'
    tile.dataset.label = t.label
    const label = document.createElement('div')
    label.className = 'label'
    label.textContent = t.label
    const value = document.createElement('div')
    value.className = 'value'
    value.textContent = t.value
    const detail = document.createElement('div')
    detail.className = 'detail'
    detail.textContent = t.detail ?? ''
    tile.append(label, value, detail)
    return tile
  }))
}
