// Is this Python interpreter built with the NVTX GIL patch? Patched builds carry the
// domain name "GIL NVTX Domain" in the executable or its libpython; a stock one needs the
// probe (LD_PRELOAD) instead. Both at once would report every range twice.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { errors } from './errors'

const marker = Buffer.from('GIL NVTX Domain')

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
