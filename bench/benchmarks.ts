// `npm run bench [-- --quick] [-- --only=PART]`: every benchmark, printed as ratios against
// baselines measured in the same run (never asserted: this machine is noisy).
import os from 'node:os'
import { benchDashboard } from './dashboard-load'
import { benchDecode } from './decode'
import { benchDrops } from './drops'
import { benchHistoryMemory } from './history-memory'
import { benchHoldCost } from './hold-cost'
import { benchHttpThreads } from './http-threads'
import { benchIngestLag } from './ingest-lag'
import { benchMetricsRender } from './metrics-render'
import { benchNvtxCost } from './nvtx-cost'
import { benchProbeOverhead } from './probe-overhead'
import { benchRecordings } from './recordings'
import { benchPythonOverhead } from './python-overhead'
import { benchServerCapacity } from './server-capacity'
import { benchStartExit } from './start-exit'
import { benchThreadChurn } from './thread-churn'

// In the order they run; each returns its printed table.
const parts: Record<string, (quick: boolean) => string | Promise<string>> = {
  nvtx: benchNvtxCost,
  decode: benchDecode,
  metrics: benchMetricsRender,
  capacity: benchServerCapacity,
  dashboard: benchDashboard,
  holdcost: benchHoldCost,
  http: benchHttpThreads,
  python: benchPythonOverhead,
  probe: benchProbeOverhead,
  drops: benchDrops,
  churn: benchThreadChurn,
  recordings: benchRecordings,
  startexit: benchStartExit,
  ingestlag: benchIngestLag,
  history: benchHistoryMemory
}

async function main () {
  const quick = process.argv.includes('--quick')
  const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7)
  if (only !== undefined && !(only in parts)) {
    console.error(`bench: unknown --only=${only}; use one of ${Object.keys(parts).join(', ')} (or no --only to run everything)`)
    process.exit(2)
  }
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU'
  console.log(`gilwatch benchmarks — ${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}${quick ? ' (quick)' : ''}\n`)
  const selected = only === undefined ? Object.values(parts) : [parts[only]]
  for (const [i, bench] of selected.entries()) {
    if (i > 0) console.log()
    console.log(await bench(quick))
  }
}

main().catch((error) => { console.error(error); process.exit(1) })
