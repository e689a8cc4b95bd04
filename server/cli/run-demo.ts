// `gilwatch demo` (`npm start`): the dashboard with live data in a minute, on nothing but
// the machine's python3: a server, and the bundled demo program (python/demo/gil_demo.py)
// run again and again through the probe (or the patch, if that python3 has it).
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { DEFAULT_HTTP_HOST, DEFAULT_HTTP_PORT } from '../config'
import { errors } from '../errors'
import { createLogger } from '../log'
import { isPatchedPython, resolveExecutable } from '../python-detect'
import { environmentFor } from './monitored-env'
import { startServer } from '../start-server'

export const demoScript = path.resolve(__dirname, '..', '..', '..', 'python', 'demo', 'gil_demo.py')

export interface DemoOptions {
  python: string
  http?: { host: string, port: number }
  seconds?: number // stop after this long (tests); default: until interrupted
}

// python3 may be a launcher (pyenv shim, virtualenv): ask it for the real interpreter.
function realInterpreter (command: string): string {
  const found = resolveExecutable(command)
  if (!found) throw errors.missingInterpreter(`${command} not found: install Python 3.10-3.15 or pass --python PATH`)
  const result = spawnSync(found, ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' })
  const real = result.status === 0 ? result.stdout.trim() : ''
  if (!real) throw errors.missingInterpreter(`${found} did not run: pass --python PATH to a working Python 3.10-3.15`)
  return real
}

export async function runDemo (options: DemoOptions): Promise<number> {
  const python = realInterpreter(options.python)
  const probe = !isPatchedPython(python)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gilwatch-demo-'))
  fs.chmodSync(dir, 0o700)
  const socket = path.join(dir, 'ingest.sock')
  const wanted = options.http ?? { host: DEFAULT_HTTP_HOST, port: DEFAULT_HTTP_PORT }
  const logger = createLogger('warn')
  let server
  try {
    server = await startServer({ socket, http: wanted, logger })
  } catch (error) {
    if ((error as { code?: string }).code !== 'GW_ERR_ADDRESS_IN_USE' || options.http) throw error
    server = await startServer({ socket, http: { host: wanted.host, port: 0 }, logger })
  }
  process.stderr.write(`gilwatch demo: open ${server.httpUrl}/ — ${path.basename(demoScript)} on ${python}` +
    `${probe ? ' (stock CPython: GIL through the probe)' : ' (NVTX GIL patch)'}; Ctrl-C to stop\n`)
  const env = { ...process.env, ...environmentFor(socket, process.env, probe), GILWATCH_SERVICE: 'gil-demo' }
  const child = spawn(python, [demoScript, ...(options.seconds ? [String(options.seconds)] : [])], { env, stdio: ['ignore', 'inherit', 'inherit'] })
  let stopping = false
  const stop = () => { stopping = true; child.kill('SIGTERM') }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
  if (code !== 0 && !stopping) process.stderr.write(`gilwatch demo: the demo program exited with ${code}\n`)
  process.off('SIGINT', stop)
  process.off('SIGTERM', stop)
  await server.close()
  fs.rmSync(dir, { recursive: true, force: true })
  return 0
}
