// `npm run bench [-- --quick]`: every benchmark, printed as ratios against baselines
// measured in the same run (never asserted: this machine is noisy).
import os from 'node:os'
import { benchDashboard } from './dashboard-load'
import { benchDecode } from './decode'
import { benchDrops } from './drops'
import { benchMetricsRender } from './metrics-render'
import { benchNvtxCost } from './nvtx-cost'
import { benchProbeOverhead } from './probe-overhead'
import { benchPythonOverhead } from './python-overhead'
import { benchServerCapacity } from './server-capacity'

async function main () {
  const quick = process.argv.includes('--quick')
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU'
  console.log(`gilwatch benchmarks — ${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}${quick ? ' (quick)' : ''}\n`)
  const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7)
  const parts = ['metrics', 'capacity', 'dashboard', 'drops', 'probe', 'python']
  if (only !== undefined && !parts.includes(only)) {
    console.error(`bench: unknown --only=${only}; use one of ${parts.join(', ')} (or no --only to run everything)`)
    process.exit(2)
  }
  if (only === 'metrics') return console.log(await benchMetricsRender(quick))
  if (only === 'capacity') return console.log(await benchServerCapacity(quick))
  if (only === 'dashboard') return console.log(await benchDashboard(quick))
  if (only === 'drops') return console.log(await benchDrops(quick))
  if (only === 'probe') return console.log(await benchProbeOverhead(quick))
  if (only === 'python') return console.log(await benchPythonOverhead(quick))
  console.log(await benchNvtxCost(quick))
  console.log()
  console.log(benchDecode(quick))
  console.log()
  console.log(await benchMetricsRender(quick))
  console.log()
  console.log(await benchServerCapacity(quick))
  console.log()
  console.log(await benchDashboard(quick))
  console.log()
  console.log(await benchPythonOverhead(quick))
  console.log()
  console.log(await benchProbeOverhead(quick))
  console.log()
  console.log(await benchDrops(quick))
}

main().catch((error) => { console.error(error); process.exit(1) })
