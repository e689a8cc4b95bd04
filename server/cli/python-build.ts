// `gilwatch python build`: a CPython with the NVTX GIL patch (native/cpython/), built once
// and cached under a directory keyed by version and patch hash.
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { errors } from '../errors'

const repoRoot = path.resolve(__dirname, '..', '..', '..')
export const patchDir = path.join(repoRoot, 'native', 'cpython')
const header = path.join(patchDir, 'gil_nvtx.h')

export function cacheRoot (): string {
  return process.env.GILWATCH_CACHE_DIR ?? path.join(repoRoot, '.cache')
}

// Minor versions with a patch in native/cpython/ (python3.X.patch).
export function patchedVersions (): string[] {
  return fs.readdirSync(patchDir)
    .map((f) => /^python(3\.\d+)\.patch$/.exec(f)?.[1])
    .filter((v): v is string => Boolean(v))
    .sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1]))
}

// Debian suites that carry each minor version's source package (deb-src entries needed).
const debianSuites: Record<string, string[]> = {
  3.11: ['', 'bookworm'],
  3.12: ['', 'trixie', 'sid'],
  3.13: ['', 'trixie', 'sid'],
  3.14: ['', 'sid', 'trixie']
}

export interface BuildOptions {
  minor: string // "3.11"
  disableGil?: boolean
  stock?: boolean // the same source without the patch, for comparisons
  source?: string // tarball; default: the Debian source package
  prefix?: string // install here instead of the cache
  jobs?: number
  log?: (line: string) => void // progress (stderr)
}

export interface BuiltPython { python: string, prefix: string, version: string, cached: boolean, seconds: number }

function sha (...parts: Array<string | Buffer>): string {
  const hash = crypto.createHash('sha256')
  for (const p of parts) hash.update(p)
  return hash.digest('hex').slice(0, 12)
}

function has (command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0
}

function nvtxInclude (): string {
  const { findNvtxInclude } = require(path.join(repoRoot, 'scripts', 'find-nvtx.js')) as { findNvtxInclude: () => string | null }
  const dir = findNvtxInclude()
  if (!dir) {
    throw errors.buildPrerequisite('cannot find the NVTX v3 headers (nvtx3/nvToolsExt.h): install the CUDA toolkit or NVTX, or set NVTX_INCLUDE_DIR')
  }
  return dir
}

// The upstream tarball inside a Debian source package (the .orig tarball).
function debianSource (minor: string, log: (line: string) => void): string {
  const dir = path.join(cacheRoot(), 'cpython', 'sources')
  fs.mkdirSync(dir, { recursive: true })
  const existing = fs.readdirSync(dir).filter((f) => f.startsWith(`python${minor}_`) && /\.orig\.tar\.(gz|xz)$/.test(f))
  if (existing.length > 0) return path.join(dir, existing.sort().pop()!)
  if (!has('apt-get')) throw errors.buildPrerequisite(`no apt-get to fetch the python${minor} source: pass --source Python-${minor}.N.tar.xz`)
  const failures: string[] = []
  for (const suite of debianSuites[minor] ?? ['']) {
    const pkg = suite ? `python${minor}/${suite}` : `python${minor}`
    log(`fetching the ${pkg} source package (apt-get source)`)
    const result = spawnSync('apt-get', ['source', '--download-only', '-qq', pkg], { cwd: dir, encoding: 'utf8' })
    const orig = fs.readdirSync(dir).find((f) => f.startsWith(`python${minor}_`) && /\.orig\.tar\.(gz|xz)$/.test(f))
    if (orig) return path.join(dir, orig)
    failures.push(`${pkg}: ${(result.stderr || result.stdout || '').trim().split('\n').filter((l) => l.startsWith('E:')).join(' ') || 'not found'}`)
  }
  throw errors.buildPrerequisite(
    `cannot download the python${minor} source (${failures.join('; ')}). Add deb-src entries, for example\n` +
    '  printf "Types: deb-src\\nURIs: http://deb.debian.org/debian\\nSuites: bookworm trixie sid\\nComponents: main\\n' +
    'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\\n" > /etc/apt/sources.list.d/deb-src.sources && apt-get update\n' +
    `or pass --source with a Python-${minor}.N tarball`)
}

function versionOf (tarball: string): string {
  const match = /(?:python3\.\d+_|Python-)(3\.\d+\.\d+)/.exec(path.basename(tarball))
  if (!match) throw errors.badFlag(`cannot tell the Python version from ${path.basename(tarball)}: name it Python-3.X.Y.tar.xz`)
  return match[1]
}

function run (command: string, args: string[], cwd: string, logFile: string, env: NodeJS.ProcessEnv = process.env,
  onLine?: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const out = fs.openSync(logFile, 'a')
    fs.writeSync(out, `\n$ ${command} ${args.join(' ')}\n`)
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let pending = ''
    const take = (chunk: Buffer) => {
      fs.writeSync(out, chunk)
      if (!onLine) return
      pending += chunk.toString()
      const lines = pending.split('\n')
      pending = lines.pop()!
      lines.forEach(onLine)
    }
    child.stdout!.on('data', take)
    child.stderr!.on('data', take)
    child.on('error', reject)
    child.on('close', (code) => {
      fs.closeSync(out)
      if (code === 0) return resolve()
      const tail = fs.readFileSync(logFile, 'utf8').trim().split('\n').slice(-25).join('\n')
      reject(errors.pythonBuildFailed(`${command} ${args[0] ?? ''} failed (exit ${code}); last lines of ${logFile}:\n${tail}`))
    })
  })
}

export function cacheKey (options: BuildOptions, tarball: string, version: string): string {
  const patch = fs.readFileSync(path.join(patchDir, `python${options.minor}.patch`))
  const flags = `${options.disableGil ? 'nogil' : 'gil'}${options.stock ? '-stock' : ''}`
  return `${version}-${flags}-${sha(options.stock ? '' : patch, options.stock ? '' : fs.readFileSync(header), path.basename(tarball), flags)}`
}

export async function buildPython (options: BuildOptions): Promise<BuiltPython> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`))
  const started = Date.now()
  const { minor } = options
  if (!patchedVersions().includes(minor)) {
    throw errors.badFlag(`no patch for Python ${minor}: supported versions are ${patchedVersions().join(', ')}`)
  }
  if (options.disableGil && Number(minor.split('.')[1]) < 13) throw errors.badFlag('--disable-gil needs Python 3.13 or later')
  if (options.source && !fs.existsSync(options.source)) throw errors.badFlag(`--source ${options.source} does not exist`)

  const tarball = options.source ? path.resolve(options.source) : debianSource(minor, log)
  const version = versionOf(tarball)
  if (!version.startsWith(`${minor}.`)) throw errors.badFlag(`${path.basename(tarball)} is Python ${version}, not ${minor}`)
  const key = cacheKey(options, tarball, version)
  const prefix = path.resolve(options.prefix ?? path.join(cacheRoot(), 'cpython', key))
  const python = path.join(prefix, 'bin', `python${minor}${options.disableGil ? 't' : ''}`)
  const stamp = path.join(prefix, '.gilwatch-build')

  const built = () => fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === key && fs.existsSync(python)
  if (built()) return { python, prefix, version, cached: true, seconds: 0 }
  return withLock(`${prefix}.lock`, log, async () => {
    // Another process may have finished the same build while we waited for the lock.
    if (built()) return { python, prefix, version, cached: true, seconds: 0 }
    return compile(options, { tarball, version, key, prefix, python, stamp, started, log })
  })
}

// One build per prefix at a time (a directory is created atomically); a lock left by a
// dead process is taken over.
async function withLock<T> (lock: string, log: (line: string) => void, fn: () => Promise<T>): Promise<T> {
  fs.mkdirSync(path.dirname(lock), { recursive: true })
  let announced = false
  for (;;) {
    try {
      fs.mkdirSync(lock)
      fs.writeFileSync(path.join(lock, 'pid'), String(process.pid))
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      let owner = 0
      try { owner = Number(fs.readFileSync(path.join(lock, 'pid'), 'utf8')) } catch {}
      let alive = false
      try { if (owner) { process.kill(owner, 0); alive = true } } catch {}
      if (!alive && owner) {
        fs.rmSync(lock, { recursive: true, force: true })
        continue
      }
      if (!announced) log(`waiting for another build of the same Python (${lock})`)
      announced = true
      await new Promise((resolve) => setTimeout(resolve, 2000))
    }
  }
  try {
    return await fn()
  } finally {
    fs.rmSync(lock, { recursive: true, force: true })
  }
}

interface BuildPlan {
  tarball: string
  version: string
  key: string
  prefix: string
  python: string
  stamp: string
  started: number
  log: (line: string) => void
}

async function compile (options: BuildOptions, plan: BuildPlan): Promise<BuiltPython> {
  const { tarball, version, key, prefix, python, stamp, started, log } = plan
  const { minor } = options
  const elapsed = () => `${Math.round((Date.now() - started) / 1000)} s`
  for (const [command, pkg] of [['cc', 'gcc'], ['make', 'make'], ['patch', 'patch'], ['tar', 'tar']]) {
    if (!has(command)) throw errors.buildPrerequisite(`${command} is missing: apt-get install ${pkg}`)
  }
  const include = nvtxInclude()
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `gilwatch-python${minor}-`))
  const logFile = path.join(cacheRoot(), 'cpython', 'logs', `${key}.log`)
  fs.mkdirSync(path.dirname(logFile), { recursive: true })
  fs.writeFileSync(logFile, '')
  const jobs = options.jobs ?? os.cpus().length
  try {
    log(`[1/5] unpacking ${path.basename(tarball)} (${elapsed()})`)
    execFileSync('tar', ['xf', tarball, '-C', work])
    const tree = path.join(work, fs.readdirSync(work).find((d) => d.startsWith('Python-'))!)

    if (options.stock) {
      log(`[2/5] no patch: a stock build for comparison (${elapsed()})`)
    } else {
      log(`[2/5] applying python${minor}.patch (${elapsed()})`)
      fs.copyFileSync(header, path.join(tree, 'Python', 'gil_nvtx.h'))
      await run('patch', ['-p1', '--forward', '-i', path.join(patchDir, `python${minor}.patch`)], tree, logFile)
    }

    log(`[3/5] configuring (${elapsed()}; log: ${logFile})`)
    const configure = [`--prefix=${prefix}`, '--without-ensurepip']
    if (!options.stock) configure.push(`CPPFLAGS=-DPy_GIL_NVTX -I${include}`)
    if (options.disableGil) configure.push('--disable-gil')
    await run('./configure', configure, tree, logFile)

    log(`[4/5] compiling with ${jobs} jobs, about 5 minutes on 2 cores (${elapsed()})`)
    let compiled = 0
    let lastReport = Date.now()
    await run('make', [`-j${jobs}`], tree, logFile, process.env, (line) => {
      if (/^(gcc|cc|clang)\b.* -c /.test(line)) compiled++
      if (Date.now() - lastReport > 15_000) {
        lastReport = Date.now()
        log(`      ${compiled} files compiled (${elapsed()})`)
      }
    })

    log(`[5/5] installing into ${prefix} (${elapsed()})`)
    fs.rmSync(prefix, { recursive: true, force: true })
    await run('make', ['install'], tree, logFile)
    const check = spawnSync(python, ['-c', 'import ctypes, threading; print("ok")'], { encoding: 'utf8' })
    if (check.stdout.trim() !== 'ok') {
      throw errors.buildPrerequisite(`the new interpreter cannot import ctypes (${check.stderr.trim().split('\n').pop()}): install libffi-dev and build again`)
    }
    fs.writeFileSync(stamp, key)
  } finally {
    if (!process.env.GILWATCH_KEEP_BUILD) fs.rmSync(work, { recursive: true, force: true })
  }
  const seconds = (Date.now() - started) / 1000
  log(`built Python ${version}${options.stock ? ' (stock)' : ' with the NVTX GIL patch'} in ${Math.round(seconds)} s`)
  return { python, prefix, version, cached: false, seconds }
}
