#!/usr/bin/env node
// Runs before `npm test`: makes sure everything the suite uses is present.
//  1. system packages (installed with apt-get when running as root; otherwise a clear error)
//  2. an up-to-date build (incremental: seconds when nothing changed)
//  3. cached slow artefacts: the patched CPython builds and a stock free-threaded 3.13t
//     (about 5 minutes each, once), and Debian sid's CPython 3.14/3.15 in a chroot (2 minutes)
'use strict'
const { execFileSync, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.resolve(__dirname, '..')

// command -> Debian package that provides it
const systemRequirements = [
  { command: 'cc', pkg: 'gcc' },
  { command: 'make', pkg: 'make' },
  { command: 'patch', pkg: 'patch' },
  { command: 'promtool', pkg: 'prometheus' }, // the real Prometheus server and promtool
  { command: 'prometheus', pkg: 'prometheus' },
  { command: 'chromium', pkg: 'chromium' } // the dashboard tests drive it with playwright-core
]
// headers the patched CPython build needs (ctypes is used by the tests)
const headerRequirements = [
  { header: '/usr/include/ffi.h', alt: '/usr/include/x86_64-linux-gnu/ffi.h', pkg: 'libffi-dev' },
  { header: '/usr/include/zlib.h', pkg: 'zlib1g-dev' },
  // CPython's own test_threading, run under the probe on Debian's interpreter
  { header: '/usr/lib/python3.11/test/test_threading.py', pkg: 'libpython3.11-testsuite', onlyIf: '/usr/bin/python3.11' }
]

function has (command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0
}

const isRoot = () => process.getuid && process.getuid() === 0
const aptEnv = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }

function installSystemPackages () {
  const missing = systemRequirements.filter((r) => !has(r.command))
    .concat(headerRequirements.filter((r) => (!r.onlyIf || fs.existsSync(r.onlyIf)) && !fs.existsSync(r.header) && !(r.alt && fs.existsSync(r.alt)))
      .map((r) => ({ command: r.header, pkg: r.pkg })))
  if (missing.length === 0) return
  const pkgs = [...new Set(missing.map((r) => r.pkg))]
  if (!isRoot()) {
    console.error(`gilwatch pretest: missing ${missing.map((r) => r.command).join(', ')}; ` +
      `install them with: sudo apt-get install -y ${pkgs.join(' ')}`)
    process.exit(1)
  }
  console.log(`gilwatch pretest: installing ${pkgs.join(' ')} (apt-get)`)
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env: aptEnv })
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], { stdio: 'inherit', env: aptEnv })
}

// The patched CPython sources come from Debian source packages: 3.11 is in bookworm,
// 3.13 in trixie and sid. As root, add deb-src entries for them if there are none.
function ensureDebianSources () {
  const dir = '/etc/apt/sources.list.d'
  const files = ['/etc/apt/sources.list', ...(fs.existsSync(dir) ? fs.readdirSync(dir).map((f) => path.join(dir, f)) : [])]
  const hasDebSrc = files.some((f) => {
    try { return /deb-src[\s\S]*(trixie|sid)|(trixie|sid)[\s\S]*deb-src/.test(fs.readFileSync(f, 'utf8')) } catch { return false }
  })
  if (hasDebSrc || !isRoot() || !has('apt-get')) return
  console.log('gilwatch pretest: adding deb-src entries (bookworm trixie sid) for the CPython sources')
  fs.writeFileSync(path.join(dir, 'gilwatch-deb-src.sources'), [
    'Types: deb-src', 'URIs: http://deb.debian.org/debian', 'Suites: bookworm trixie sid', 'Components: main',
    'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg', ''
  ].join('\n'))
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env: aptEnv })
}

// Patched CPython builds, cached in .cache/cpython/ by version and patch hash.
async function buildPatchedPythons () {
  const { buildPython, patchedVersions } = require(path.join(root, 'dist', 'server', 'cli', 'python-build.js'))
  for (const minor of patchedVersions()) {
    const built = await buildPython({ minor, log: (line) => console.log(`gilwatch pretest: python ${minor}: ${line}`) })
    console.log(`gilwatch pretest: python ${minor}: ${built.cached ? 'cached' : 'built'} ${built.python}`)
  }
  // The probe's free-threaded case: a stock 3.13t (GIL disabled unless PYTHON_GIL=1).
  const log = (line) => console.log(`gilwatch pretest: python 3.13t: ${line}`)
  const built = await buildPython({ minor: '3.13', disableGil: true, stock: true, log })
  log(`${built.cached ? 'cached' : 'built'} ${built.python}`)
}

// `npm run build`: npm supplies its own node-gyp; make only recompiles what changed.
function build () {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] })
}

async function main () {
  installSystemPackages()
  build()
  ensureDebianSources()
  await buildPatchedPythons()
  require('./sid-chroot.js').ensureSidChroot((line) => console.log(`gilwatch pretest: ${line}`))
}

main().catch((error) => {
  console.error(`gilwatch pretest: ${error.message}`)
  process.exit(1)
})
