// Unit tier, the probe's state machine: native/probe/transitions.c driven, through the probe's
// own pthread wrappers (interpose.c) and GIL finder (gils.c), by the call sequences of each
// CPython version's take_gil()/drop_gil(), with the real NVTX headers and a recording NVTX
// tool (test/fixtures/c/probe_units.c), each check reported by name. Compiled fresh every run.
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import path from 'node:path'
import { test } from 'node:test'
import { findNvtxInclude, fixturesDir, repoRoot, tempDir } from './helpers'

test('probe state machine: waits and holds for every take_gil()/drop_gil() path, 3.10 to 3.14', () => {
  const include = findNvtxInclude()
  assert.ok(include, 'NVTX headers (set NVTX_INCLUDE_DIR)')
  const binary = path.join(tempDir('gilwatch-probe-units-'), 'probe_units')
  execFileSync(process.env.CC ?? 'cc', ['-O2', '-g', '-Wall', '-Wextra', '-Werror', '-pthread', `-I${include}`,
    `-I${path.join(repoRoot, 'native', 'protocol')}`, path.join(fixturesDir, 'c', 'probe_units.c'), '-o', binary],
  { stdio: 'inherit' })
  const result = spawnSync(binary, { encoding: 'utf8', timeout: 60_000 })
  const lines = result.stdout.split('\n')
  const failed = lines.filter((l) => l.startsWith('not ok'))
  assert.deepEqual(failed, [], result.stdout)
  assert.equal(result.status, 0, result.stdout + result.stderr)
  // Every check ran (a crash half-way must not pass as "no failures"), fork children's included.
  assert.equal(lines.filter((l) => l.startsWith('ok ')).length, 177, result.stdout)
})
