// Defaults shared by the server and the commands; the injection library computes the same
// default socket path (native/injection/config.c).
import os from 'node:os'
import path from 'node:path'

export const DEFAULT_HTTP_HOST = '127.0.0.1'
export const DEFAULT_HTTP_PORT = 9477
export const DEFAULT_TCP_PORT = 9478

// How long a process that disconnected stays "disconnected" before it is "retired" (no
// longer in metrics), and how long a retired one stays inspectable: as long as the history's
// coarsest tier (600 s × 4320: 30 days), the oldest forgotten first beyond 200.
export const RETIRE_AFTER_MS = 60_000
export const FORGET_AFTER_MS = 30 * 86_400_000
export const MAX_RETIRED_PROCESSES = 200

export function defaultSocketPath (env: NodeJS.ProcessEnv = process.env): string {
  const runtimeDir = env.XDG_RUNTIME_DIR
  if (runtimeDir && runtimeDir.startsWith('/')) return path.join(runtimeDir, 'gilwatch', 'ingest.sock')
  return path.join('/tmp', `gilwatch-${os.userInfo().uid}`, 'ingest.sock')
}

const distDir = path.resolve(__dirname, '..')
export const paths = {
  injectionLibrary: path.join(distDir, 'lib', 'libgilwatch-nvtx.so'),
  probeLibrary: path.join(distDir, 'lib', 'libgilwatch-probe.so'),
  addon: path.join(distDir, 'lib', 'gilwatch_addon.node'),
  // put first on PYTHONPATH: its sitecustomize names Python threads in the monitor
  pythonHook: path.join(distDir, '..', 'python', 'gilwatch_hook')
}
