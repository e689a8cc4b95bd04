#!/usr/bin/env node
// Second half of `npm install` (after node-gyp): compiles the TypeScript, puts the native
// libraries at stable paths under dist/lib/ and bundles the dashboard.
'use strict'
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.resolve(__dirname, '..')
const dist = path.join(root, 'dist')

function step (title, fn) {
  const started = Date.now()
  process.stdout.write(`gilwatch build: ${title}... `)
  fn()
  process.stdout.write(`done (${((Date.now() - started) / 1000).toFixed(1)} s)\n`)
}

step('TypeScript', () => {
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', root], { stdio: 'inherit' })
})

step('native libraries', () => {
  const lib = path.join(dist, 'lib')
  fs.mkdirSync(lib, { recursive: true })
  const built = path.join(root, 'build', 'Release')
  const copies = [
    [path.join(built, 'gilwatch_nvtx.so'), 'libgilwatch-nvtx.so'],
    [path.join(built, 'gilwatch_probe.so'), 'libgilwatch-probe.so'],
    [path.join(built, 'gilwatch_addon.node'), 'gilwatch_addon.node']
  ]
  for (const [from, name] of copies) {
    if (!fs.existsSync(from)) throw new Error(`missing ${from}: did node-gyp build fail?`)
    // Write beside and rename: a process that has the old library mapped keeps it intact.
    const to = path.join(lib, name)
    fs.copyFileSync(from, `${to}.tmp`)
    fs.renameSync(`${to}.tmp`, to)
  }
})

const dashboardBuild = path.join(root, 'scripts', 'build-dashboard.js')
if (fs.existsSync(dashboardBuild)) step('dashboard', () => require(dashboardBuild).buildDashboard())

// The Python thread-name hook, compiled ahead for every CPython found here: a process that
// may not write beside it (an install owned by root, PYTHONDONTWRITEBYTECODE) would compile
// it at every start (about 1.4 ms). Checked-hash bytecode stays right when the source changes.
step('Python hook bytecode', () => {
  const hook = path.join(root, 'python', 'gilwatch_hook')
  const candidates = new Set()
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    for (const name of ['python3', ...Array.from({ length: 8 }, (_, i) => `python3.${i + 8}`)]) {
      const file = path.join(dir, name)
      if (fs.existsSync(file)) candidates.add(fs.realpathSync(file))
    }
  }
  const pyenv = process.env.PYENV_ROOT ?? path.join(require('node:os').homedir(), '.pyenv')
  const cached = path.join(root, '.cache', 'cpython')
  for (const base of [path.join(pyenv, 'versions'), cached]) {
    if (!fs.existsSync(base)) continue
    for (const version of fs.readdirSync(base)) {
      const file = path.join(base, version, 'bin', 'python3')
      if (fs.existsSync(file)) candidates.add(fs.realpathSync(file))
    }
  }
  for (const python of candidates) {
    try {
      execFileSync(python, ['-m', 'compileall', '-q', '--invalidation-mode', 'checked-hash', hook], { stdio: 'ignore', timeout: 30_000 })
    } catch {} // not every interpreter found is usable: it compiles the hook itself then
  }
})
