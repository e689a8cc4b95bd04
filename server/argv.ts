// How much of a monitored process's command line leaves the server (`--argv`). Arguments
// routinely carry secrets (`--api-key=…`, database URLs, `-c` code), and the process list
// goes to the API, the dashboard and run summaries, so the default keeps only what names
// the program. The Store applies this to every view it hands out (server/store.ts); the
// addon keeps the full command line, and a recording keeps it too (docs/security.md).
import path from 'node:path'
import { errors } from './errors'
import { looksLikePython } from './python-detect'

export const argvModes = ['full', 'program', 'none'] as const
export type ArgvMode = typeof argvModes[number]
export const DEFAULT_ARGV_MODE: ArgvMode = 'program'

export function parseArgvMode (text: string, flag = '--argv'): ArgvMode {
  if ((argvModes as readonly string[]).includes(text)) return text as ArgvMode
  throw errors.badFlag(`${flag}=${text}: give full, program or none (default ${DEFAULT_ARGV_MODE}: the program without its arguments)`)
}

export function redactArgv (argv: string[], mode: ArgvMode): string[] {
  if (mode === 'full') return argv
  if (mode === 'none' || !argv.length) return []
  return programOf(argv)
}

// CPython options whose value may be the next argument (`-W ignore`, `-X dev`); `-c` and `-m`
// end the options. The value of every other argument is dropped.
const PYTHON_OPTIONS_WITH_VALUE = new Set(['W', 'X'])
const PYTHON_LONG_OPTIONS_WITH_VALUE = new Set(['--check-hash-based-pycs'])

// The executable's name, and for a Python interpreter the script (or `-m module`, or `-c`
// without its code): what tells processes apart, never what configures them.
function programOf (argv: string[]): string[] {
  // A process title set with setproctitle can put the whole command line, spaces and all, in
  // argv[0]; only its first word names the program.
  const first = argv.length === 1 && /\s/.test(argv[0].trim()) ? argv[0].trim().split(/\s+/)[0] : argv[0]
  const name = path.basename(first)
  if (!looksLikePython(name)) return [name]
  const rest = argv.slice(1)
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]
    if (arg === '--') return rest[i + 1] === undefined ? [name] : [name, rest[i + 1]]
    if (arg === '-' || !arg.startsWith('-')) return [name, arg] // the script ('-': stdin)
    if (arg.startsWith('--')) {
      if (PYTHON_LONG_OPTIONS_WITH_VALUE.has(arg)) i++
      continue
    }
    // Short options combine (`-uB`), and a value may be attached (`-Wignore`, `-mhttp.server`).
    for (let j = 1; j < arg.length; j++) {
      const option = arg[j]
      if (option === 'c') return [name, '-c']
      if (option === 'm') {
        const module = arg.slice(j + 1) || rest[i + 1]
        return module === undefined ? [name, '-m'] : [name, '-m', module]
      }
      if (PYTHON_OPTIONS_WITH_VALUE.has(option)) {
        if (j + 1 === arg.length) i++
        break
      }
    }
  }
  return [name]
}
