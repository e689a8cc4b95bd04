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
