#!/usr/bin/env node
// Debian sid's stock CPython 3.14 and 3.15 for the tests, in a chroot (they need a newer
// glibc than this bookworm host). Built once with debootstrap into .cache/sid/<recipe hash>/
// (about 1.5 minutes and 0.6 GB), as root. Each interpreter gets a wrapper script,
// .cache/sid/<hash>/bin/python3.X, that runs it under the caller's pid (every step execs)
// in a private mount namespace with /dev, /proc, /tmp and the checkout mounted at the same
// paths, so sockets, scripts and the gilwatch libraries are where the host has them. The
// mounts vanish with the process: nothing stays mounted inside .cache.
'use strict'
const { execFileSync } = require('node:child_process')
const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')

const root = path.resolve(__dirname, '..')
const MINORS = ['3.14', '3.15']
const PACKAGES = MINORS.flatMap((m) => [`python${m}`, `libpython${m}-testsuite`])
const MIRROR = 'http://deb.debian.org/debian'
// sid's Release file on the mirror has expired; the packages themselves are still verified.
const APT_OPTIONS = ['-o', 'Acquire::Check-Valid-Until=false']
const recipe = crypto.createHash('sha256').update(JSON.stringify({ PACKAGES, MIRROR, wrapper: wrapper('X', 'Y', 'Z') }))
  .digest('hex').slice(0, 12)
const dir = path.join(root, '.cache', 'sid', recipe)

function wrapper (chroot, checkout, minor) {
  return `#!/bin/sh
# Debian sid's python${minor} in ${chroot}, run by gilwatch's tests (scripts/sid-chroot.js).
exec unshare --mount --propagation private /bin/sh -c '
  r=$1; checkout=$2; cwd=$3; shift 3
  mount --rbind /dev "$r/dev" && mount -t proc proc "$r/proc" && mount --bind /tmp "$r/tmp" &&
    mkdir -p "$r$checkout" && mount --bind "$checkout" "$r$checkout" &&
    exec chroot "$r" /bin/sh -c "cd \\"\\$0\\" 2>/dev/null || cd /; exec /usr/bin/python${minor} \\"\\$@\\"" "$cwd" "$@"
' sh '${chroot}' '${checkout}' "$PWD" "$@"
`
}

// The wrappers, when the chroot is built: { '3.14': '/…/bin/python3.14', … }.
function sidPythons () {
  const out = {}
  for (const minor of MINORS) {
    const file = path.join(dir, 'bin', `python${minor}`)
    if (fs.existsSync(file)) out[minor] = file
  }
  return out
}

function ensureSidChroot (log = console.log) {
  if (fs.existsSync(path.join(dir, 'versions.txt'))) return sidPythons()
  if (!process.getuid || process.getuid() !== 0) {
    log('sid chroot: not root, so CPython 3.14/3.15 (Debian sid) are not tested; run npm test as root once to build it')
    return {}
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  const run = (cmd, args) => execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'], env })
  try { execFileSync('sh', ['-c', 'command -v debootstrap'], { stdio: 'ignore' }) } catch {
    run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'debootstrap'])
  }
  const tmp = `${dir}.tmp`
  fs.rmSync(tmp, { recursive: true, force: true })
  fs.mkdirSync(tmp, { recursive: true })
  const chroot = path.join(tmp, 'root')
  const started = Date.now()
  log(`sid chroot: debootstrap into ${chroot} (about a minute)`)
  run('debootstrap', ['--variant=minbase', 'sid', chroot, MIRROR])
  log(`sid chroot: installing ${PACKAGES.join(' ')}`)
  run('chroot', [chroot, 'apt-get', ...APT_OPTIONS, 'update', '-qq'])
  run('chroot', [chroot, 'apt-get', ...APT_OPTIONS, 'install', '-y', '-qq', '--no-install-recommends', ...PACKAGES])
  run('chroot', [chroot, 'apt-get', 'clean'])
  const versions = execFileSync('chroot', [chroot, 'dpkg-query', '-W', ...PACKAGES], { encoding: 'utf8' })
  fs.rmSync(dir, { recursive: true, force: true })
  fs.renameSync(tmp, dir)
  fs.mkdirSync(path.join(dir, 'bin'))
  for (const minor of MINORS) {
    const file = path.join(dir, 'bin', `python${minor}`)
    fs.writeFileSync(file, wrapper(path.join(dir, 'root'), root, minor), { mode: 0o755 })
  }
  fs.writeFileSync(path.join(dir, 'versions.txt'), versions)
  log(`sid chroot: ready in ${Math.round((Date.now() - started) / 1000)} s: ${versions.trim().replace(/\s+/g, ' ')}`)
  return sidPythons()
}

module.exports = { ensureSidChroot, sidPythons, sidRoot: () => path.join(dir, 'root') }

if (require.main === module) console.log(ensureSidChroot())
