// Presentation load from another process, for the ingest lag bench: CLIENTS dashboard
// WebSockets re-subscribing to the widest view at the message rate limit, and one client
// each fetching /api/processes and /metrics back to back, for SECONDS.
import WebSocket from 'ws'
import { defaultWebLimits } from '../server/web-limits'

const [url, clientsText, secondsText] = process.argv.slice(2)
const deadline = Date.now() + Number(secondsText) * 1000
const widest = JSON.stringify({ type: 'subscribe', windowMs: 30_000, widthPx: 8000 })
const sockets = Array.from({ length: Number(clientsText) }, () => new WebSocket(`${url.replace('http', 'ws')}/ws`))
for (const s of sockets) s.on('error', () => {})
const storm = setInterval(() => { for (const s of sockets) if (s.readyState === WebSocket.OPEN) s.send(widest) }, 1000 / defaultWebLimits.wsMessagesPerSecond + 5)
async function loop (path: string): Promise<void> {
  while (Date.now() < deadline) await (await fetch(`${url}${path}`)).arrayBuffer().catch(() => undefined)
}
Promise.all([loop('/api/processes'), loop('/metrics')]).then(() => {
  clearInterval(storm)
  for (const s of sockets) s.terminate()
})
