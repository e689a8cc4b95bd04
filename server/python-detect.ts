// Is this Python interpreter built with the NVTX GIL patch? Patched builds carry the
// domain name "GIL NVTX Domain" in the executable or its libpython; a stock one needs the
// probe (LD_PRELOAD) instead. Both at once would report every range twice.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { errors } from './errors'
import { GIL_DOMAIN } from './gil-names'

const marker = Buffer.from(GIL_DOMAIN)

export function resolveExecutable (command: string, env: NodeJS.ProcessEnv = process.env): string | null {
  if (command.includes('/')) return fs.existsSync(command) ? path.resolve(command) : null
  for (const dir of (env.PATH ?? '').split(':')) {
    if (!dir) continue
    const candidate = path.join(dir, command)
    try {
      fs.accessSync(candidate, fs.constants.X_OK)
      if (fs.statSync(candidate).isFile()) return candidate
    } catch {}
  }
  return null
}

// The executable itself plus the libpython it links (shared builds), from ldd.
function imagesOf (executable: string): string[] {
  const images = [fs.realpathSync(executable)]
  try {
    const out = execFileSync('ldd', [executable], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    for (const match of out.matchAll(/(libpython[^\s]*)\s+=>\s+(\S+)/g)) images.push(match[2])
  } catch {}
  return images
}

export function isPatchedPython (executable: string): boolean {
  return imagesOf(executable).some((image) => {
    try { return fs.readFileSync(image).includes(marker) } catch { return false }
  })
}

// Looks like a CPython interpreter (python, python3, python3.11, python3.13t, ...)?
export function looksLikePython (executable: string): boolean {
  return /^python(\d(\.\d+t?)?)?$/.test(path.basename(executable))
}

export function checkedPython (command: string): string {
  const executable = resolveExecutable(command)
  if (!executable) throw errors.missingInterpreter(`${command} is not an executable (not found on PATH): give the path of a Python interpreter`)
  return executable
}

// What the interpreter is, asked from the interpreter itself (run once, without gilwatch in
// its environment). PYTHON_GIL and -X gil are honoured: `gil` is what this run will have.
export interface PythonBuild {
  version: string // "3.14.10"
  minor: number // 14
  freeThreaded: boolean
  gil: boolean // the GIL is enabled at startup
  patched: boolean // built with the NVTX GIL patch
}

export const PROBE_VERSIONS = { first: 10, last: 15 } // 3.x, as native/probe/python_version.c

const INSPECT = 'import sys, sysconfig\n' +
  'v = sys.version_info\n' +
  'ft = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))\n' +
  'gil = sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True\n' +
  'print("%d.%d.%d %d %d" % (v[0], v[1], v[2], ft, gil))\n'

// `-X gil=N` among the interpreter's own options (before the script or -m/-c).
function gilOptions (args: string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < args.length && args[i].startsWith('-') && !['-m', '-c', '-'].includes(args[i]); i++) {
    if (args[i] === '-X' && /^gil=[01]$/.test(args[i + 1] ?? '')) out.push('-X', args[++i])
    else if (/^-Xgil=[01]$/.test(args[i])) out.push(args[i])
    else if (args[i] === '-X' || args[i] === '-W') i++
  }
  return out
}

export function inspectPython (executable: string, env: NodeJS.ProcessEnv = process.env, interpreterArgs: string[] = []): PythonBuild | null {
  const clean = { ...env }
  for (const name of ['LD_PRELOAD', 'NVTX_INJECTION64_PATH', 'NVTX_INJECTION32_PATH']) delete clean[name]
  let out: string
  try {
    // -S: no site (no sitecustomize of ours or the user's), but PYTHON_GIL still applies.
    out = execFileSync(executable, [...gilOptions(interpreterArgs), '-S', '-c', INSPECT],
      { encoding: 'utf8', env: clean, timeout: 15_000, stdio: ['ignore', 'pipe', 'ignore'] })
  } catch {
    return null
  }
  const match = /^(3)\.(\d+)\.(\d+) ([01]) ([01])\s*$/.exec(out)
  if (!match) return null
  return {
    version: `${match[1]}.${match[2]}.${match[3]}`,
    minor: Number(match[2]),
    freeThreaded: match[4] === '1',
    gil: match[5] === '1',
    patched: isPatchedPython(executable)
  }
}

// What gilwatch will see of a run of this interpreter, in one line, and how to load it.
export interface MonitoringPlan { monitor: boolean, probe: boolean, line: string }

export function monitoringPlan (build: PythonBuild): MonitoringPlan {
  const what = `CPython ${build.version}${build.freeThreaded ? ' (free-threaded build)' : ''}`
  if (build.freeThreaded && !build.gil) {
    return { monitor: false, probe: false, line: 'free-threaded build, GIL disabled: nothing to monitor; PYTHON_GIL=1 enables it' }
  }
  if (build.patched) return { monitor: true, probe: false, line: `${what} has the NVTX GIL patch: its GIL is reported by the patch` }
  if (build.minor < PROBE_VERSIONS.first || build.minor > PROBE_VERSIONS.last) {
    return {
      monitor: false,
      probe: false,
      line: `${what} is not supported (3.${PROBE_VERSIONS.first} to 3.${PROBE_VERSIONS.last}): its GIL is not monitored`
    }
  }
  return { monitor: true, probe: true, line: `${what} is stock: the probe (LD_PRELOAD) reports its GIL, thread names from the hook` }
}
