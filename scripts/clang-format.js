#!/usr/bin/env node
// Checks (default) or applies (--fix) .clang-format on the C and C++ sources. CPython's own
// files and the patch's header (native/cpython/) keep CPython's style and are left alone:
// the patch's bytes key the cached interpreter builds.
'use strict'
const { execFileSync, spawnSync } = require('node:child_process')
const path = require('node:path')

const root = path.resolve(__dirname, '..')
const fix = process.argv.includes('--fix')
const files = execFileSync('git', ['ls-files', '*.c', '*.cc', '*.h'], { cwd: root, encoding: 'utf8' })
  .split('\n').filter((f) => f && !f.startsWith('native/cpython/'))
const result = spawnSync('clang-format', [...(fix ? ['-i'] : ['--dry-run', '--Werror']), ...files], { cwd: root, stdio: 'inherit' })
if (result.error) {
  console.error(`clang-format: ${result.error.code === 'ENOENT' ? 'not installed (Debian: apt-get install clang-format)' : result.error.message}`)
  process.exit(2)
}
if (result.status !== 0 && !fix) console.error('C/C++ sources are not formatted: run `npm run format`')
process.exit(result.status ?? 1)
