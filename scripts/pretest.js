#!/usr/bin/env node
// Runs before `npm test`: makes sure everything the suite uses is present.
//  1. system packages (installed with apt-get when running as root; otherwise a clear error)
//  2. an up-to-date build (incremental: seconds when nothing changed)
//  3. cached slow artefacts (registered by later steps, e.g. the patched CPython)
'use strict'
const { execFileSync, spawnSync } = require('node:child_process')
const path = require('node:path')

const root = path.resolve(__dirname, '..')

// command -> Debian package that provides it
const systemRequirements = [
  { command: 'cc', pkg: 'gcc' },
  { command: 'make', pkg: 'make' }
]

function has (command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0
}

function installSystemPackages () {
  const missing = systemRequirements.filter((r) => !has(r.command))
  if (missing.length === 0) return
  const pkgs = [...new Set(missing.map((r) => r.pkg))]
  if (process.getuid && process.getuid() !== 0) {
    console.error(`gilwatch pretest: missing ${missing.map((r) => r.command).join(', ')}; ` +
      `install them with: sudo apt-get install -y ${pkgs.join(' ')}`)
    process.exit(1)
  }
  console.log(`gilwatch pretest: installing ${pkgs.join(' ')} (apt-get)`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  execFileSync('apt-get', ['update'], { stdio: 'inherit', env })
  execFileSync('apt-get', ['install', '-y', '--no-install-recommends', ...pkgs], { stdio: 'inherit', env })
}

// `npm run build`: npm supplies its own node-gyp; make only recompiles what changed.
function build () {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] })
}

installSystemPackages()
build()
