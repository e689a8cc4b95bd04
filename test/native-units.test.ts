// Unit tier, native side: the injection library's interning table and record ring
// (native_units.c), its exact GIL totals and their shared region (totals_units.c), and the
// long-hold sampler's time split (sampler_units.c) and the TSC clock (clock_units.c), each built from the library's real sources
// with the real NVTX headers, each check reported by name. Compiled fresh every run: they
// include the library's sources.
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import path from 'node:path'
import { test } from 'node:test'
import { findNvtxInclude, fixturesDir, tempDir } from './helpers'

// Builds test/fixtures/c/<name>.c and runs it: no check may fail, and exactly `checks` must
// pass, so that a crash half-way does not pass as "no failures".
function runUnits (name: string, checks: number): void {
  const include = findNvtxInclude()
  assert.ok(include, 'NVTX headers (set NVTX_INCLUDE_DIR)')
  const binary = path.join(tempDir('gilwatch-units-'), name)
  execFileSync(process.env.CC ?? 'cc', ['-O2', '-g', '-Wall', '-Wextra', '-Werror', '-pthread', `-I${include}`,
    path.join(fixturesDir, 'c', `${name}.c`), '-o', binary], { stdio: 'inherit' })
  const result = spawnSync(binary, { encoding: 'utf8', timeout: 60_000 })
  const lines = result.stdout.split('\n')
  const failed = lines.filter((l) => l.startsWith('not ok'))
  assert.deepEqual(failed, [], result.stdout)
  assert.equal(result.status, 0, result.stdout + result.stderr)
  assert.equal(lines.filter((l) => l.startsWith('ok ')).length, checks, result.stdout)
  console.log(lines.filter((l) => l.startsWith('#')).join('\n'))
}

test('interning and the record ring, single-threaded and under concurrency', () => {
  runUnits('native_units', 15)
})

test('exact GIL totals: counting, snapshots, folds, the shared region, the wait union, also under concurrency', () => {
  runUnits('totals_units', 33)
})

test('the long-hold sampler: its time split, the readings it splits between, a hold sampled from /proc', () => {
  runUnits('sampler_units', 16)
})

test('the TSC clock: calibrated, re-anchored and never back, always within CLOCK_MONOTONIC\'s bracket', () => {
  runUnits('clock_units', 4)
})
