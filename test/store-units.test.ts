// Unit tier, the server addon's store: the real decoder, store, timeline and long-hold views
// (native/addon/, the sources without N-API) fed wire frames built from the protocol header's
// structs (test/fixtures/cc/store_units.cc), each check reported by name. Compiled fresh every
// run, one object per source in parallel, then linked.
import assert from 'node:assert/strict'
import { execFile, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { fixturesDir, repoRoot, tempDir } from './helpers'

// The addon's sources that the store's core needs, none of which includes napi.h.
const ADDON_SOURCES = ['decoder', 'history', 'long_holds', 'shared_region', 'store', 'store_causes', 'store_gil',
  'services', 'store_records', 'store_regions', 'string_table', 'timeline', 'worst_holds']
const CHECKS = 32

test('store: exact GIL totals, restatement, limits, timeline, long holds, hold causes', async () => {
  const cxx = process.env.CXX ?? 'g++'
  const dir = tempDir('gilwatch-store-units-')
  const addon = path.join(repoRoot, 'native', 'addon')
  const flags = ['-std=c++17', '-O1', '-g', '-Wall', '-Wextra', '-Werror',
    `-I${path.join(repoRoot, 'native', 'protocol')}`, `-I${addon}`]
  // The test's own source first: it takes longest, the others fill the remaining workers.
  const sources = [path.join(fixturesDir, 'cc', 'store_units.cc'),
    ...ADDON_SOURCES.map((name) => path.join(addon, `${name}.cc`))]
  const objects = sources.map((source) => path.join(dir, `${path.basename(source, '.cc')}.o`))
  const started = process.hrtime.bigint()
  const pending = sources.map((source, i) => () => promisify(execFile)(cxx, [...flags, '-c', source, '-o', objects[i]]))
  const workers = Array.from({ length: Math.min(os.availableParallelism(), pending.length) }, async () => {
    for (let next = pending.shift(); next; next = pending.shift()) await next()
  })
  await Promise.all(workers)
  const binary = path.join(dir, 'store_units')
  await promisify(execFile)(cxx, [...objects, '-o', binary])
  console.log(`compiled and linked in ${Math.round(Number(process.hrtime.bigint() - started) / 1e6)} ms`)

  const result = spawnSync(binary, { encoding: 'utf8', timeout: 60_000 })
  fs.rmSync(dir, { recursive: true, force: true })
  const lines = result.stdout.split('\n')
  const failed = lines.filter((l) => l.startsWith('not ok'))
  assert.deepEqual(failed, [], result.stdout)
  assert.equal(result.status, 0, result.stdout + result.stderr)
  // Every check ran: a crash half-way must not pass as "no failures".
  assert.equal(lines.filter((l) => l.startsWith('ok ')).length, CHECKS, result.stdout)
})
