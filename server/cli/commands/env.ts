// `gilwatch env`: the shell lines that make a process report to a server (the environment
// itself is server/cli/monitored-env.ts).
import type { Command } from '../cli'
import { defaultSocketPath } from '../../config'
import { errors } from '../../errors'
import { parseFlags } from '../flags'
import { environmentFor } from '../monitored-env'
import { checkedPython, inspectPython, monitoringPlan } from '../../python-detect'

const help = `Usage: gilwatch env [--addr ADDR] [--probe | --python PYTHON]

Prints the environment that makes a process stream its NVTX ranges to a gilwatch server:

  eval "$(gilwatch env --python python3)"
  python3 my_service.py

Options:
  --addr ADDR      where the server listens: a socket path, unix:PATH or tcp://HOST:PORT
                   (default: ${defaultSocketPath()})
  --ingest-token-file F  the server's --ingest-token-file, for TCP (sets GILWATCH_TOKEN_FILE)
  --probe          also preload the probe (LD_PRELOAD), for a stock CPython 3.10-3.15
  --python PYTHON  decide for this interpreter: the probe if it is stock, none if it is
                   built with the NVTX GIL patch`

export function shellQuote (value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, "'\\''")}'`
}

function env (args: string[]): number {
  const { values } = parseFlags('env', args, ['addr', 'ingest-token-file', 'probe', 'python'])
  let probe = Boolean(values.probe)
  if (values.python) {
    const python = checkedPython(values.python)
    const build = inspectPython(python)
    if (!build) throw errors.missingInterpreter(`${python} did not answer as a CPython 3 interpreter (python -c failed): give the path of a CPython`)
    const plan = monitoringPlan(build)
    // A free-threaded build may still turn its GIL on (PYTHON_GIL=1, or a module that needs
    // it): the probe stays in the environment so that it is seen when it does.
    probe = plan.probe || (build.freeThreaded && !build.patched)
    process.stderr.write(`# ${python}: ${plan.line}\n`)
  }
  const vars = environmentFor(values.addr, {}, probe, values['ingest-token-file']?.file)
  for (const [name, value] of Object.entries(vars)) {
    // PYTHONPATH and LD_PRELOAD are prepended to, not replaced: the evaluating shell expands.
    const tail = name === 'PYTHONPATH' || name === 'LD_PRELOAD' ? `"\${${name}:+:$${name}}"` : ''
    process.stdout.write(`export ${name}=${shellQuote(value)}${tail}\n`)
  }
  return 0
}

export const command: Command = {
  name: 'env',
  synopsis: 'env [--python PY]',
  summary: 'print the shell lines that make a process report to a server',
  help,
  main: env
}
