// The environment that makes a process report to a gilwatch server: what `gilwatch env`
// prints and what `run` and `demo` give the programs they start.
import fs from 'node:fs'
import path from 'node:path'
import { defaultSocketPath, paths } from '../config'
import { errors } from '../errors'

// What a monitored process needs in its environment. PYTHONPATH (and LD_PRELOAD, with the
// probe) keep what `base` had. `addr` and `tokenFile` come checked by the flag parser
// (server/cli/flags.ts); the token file is passed by name, absolute since the process may change
// directory, so the token itself stays out of every child's environment.
export function environmentFor (addr?: string, base: NodeJS.ProcessEnv = process.env, probe = false, tokenFile?: string): Record<string, string> {
  for (const library of [paths.injectionLibrary, ...(probe ? [paths.probeLibrary] : [])]) {
    if (!fs.existsSync(library)) throw errors.missingBuild(`${library} is missing: run \`npm install\` (it builds the native parts)`)
  }
  const prepend = (value: string, rest: string | undefined) => (rest ? `${value}:${rest}` : value)
  return {
    NVTX_INJECTION64_PATH: paths.injectionLibrary,
    GILWATCH_ADDR: addr || defaultSocketPath(),
    ...(tokenFile ? { GILWATCH_TOKEN_FILE: path.resolve(tokenFile) } : {}),
    PYTHONPATH: prepend(paths.pythonHook, base.PYTHONPATH),
    ...(probe ? { LD_PRELOAD: prepend(paths.probeLibrary, base.LD_PRELOAD) } : {})
  }
}
