// Unit tier, native side: the injection library's interning table and record ring, built
// from their real sources with the real NVTX headers (test/fixtures/c/native_units.c), each
// check reported by name. Compiled fresh every run: it includes the library's sources.
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import path from 'node:path'
import { test } from 'node:test'
import { findNvtxInclude, fixturesDir, tempDir } from './helpers'

test('interning and the record ring, single-threaded and under concurrency', () => {
  const include = findNvtxInclude()
  assert.ok(include, 'NVTX headers (set NVTX_INCLUDE_DIR)')
  const binary = path.join(tempDir('gilwatch-units-'), 'native_units')
  execFileSync(process.env.CC ?? 'cc', ['-O2', '-g', '-Wall', '-Wextra', '-Werror', '-pthread', `-I${include}`,
    path.join(fixturesDir, 'c', 'native_units.c'), '-o', binary], { stdio: 'inherit' })
  const result = spawnSync(binary, { encoding: 'utf8', timeout: 60_000 })
  const lines = result.stdout.split('\n')
  const failed = lines.filter((l) => l.startsWith('not ok'))
  assert.deepEqual(failed, [], result.stdout)
  assert.equal(result.status, 0, result.stdout + result.stderr)
  // Every check ran: a crash half-way must not pass as "no failures".
  assert.equal(lines.filter((l) => l.startsWith('ok ')).length, 15, result.stdout)
  console.log(lines.filter((l) => l.startsWith('#')).join('\n'))
})
