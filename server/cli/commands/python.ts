// `gilwatch python build 3.X`: a CPython with gilwatch's NVTX GIL patch, built and cached by
// server/cli/python-build.ts; prints the interpreter's path so that `$(gilwatch python build
// 3.11)` can run it.
import type { Command } from '../cli'
import { errors } from '../../errors'
import { parseFlags } from '../flags'
import { buildPython, patchedVersions } from '../python-build'

const help = `Usage: gilwatch python build VERSION [--disable-gil] [--stock] [--source TARBALL] [--prefix DIR] [--jobs N]

Builds CPython VERSION with gilwatch's NVTX GIL patch (native/cpython/) and prints the
interpreter's path. Without --source, the source comes from the Debian source package
(deb-src entries needed). The build is cached by version and patch hash: a second call
returns at once. About 5 minutes on 2 cores.

Options:
  --disable-gil     free-threaded build (3.13+)
  --stock           the same source without the patch (to compare overhead)
  --source TARBALL  build this Python-3.X.Y tarball instead
  --prefix DIR      install here instead of the cache (.cache/cpython/)
  --jobs N          parallel compile jobs (default: all cores)

Examples:
  gilwatch python build 3.11
  eval "$(gilwatch env)"; $(gilwatch python build 3.11) my_service.py`

async function python (args: string[]): Promise<number> {
  const [action, ...rest] = args
  if (action !== 'build') throw errors.badFlag(`gilwatch python ${action ?? ''}: the only action is "build". Run \`gilwatch help python\``)
  const { values, positionals } = parseFlags('python', rest, ['disable-gil', 'stock', 'source', 'prefix', 'jobs'], { positionals: true })
  const versions = patchedVersions()
  if (positionals.length !== 1 || !versions.includes(positionals[0])) {
    throw errors.badFlag(`give one Python version to build: ${versions.join(' or ')} (e.g. gilwatch python build ${versions[0]})`)
  }
  const built = await buildPython({
    minor: positionals[0],
    disableGil: Boolean(values['disable-gil']),
    stock: Boolean(values.stock),
    source: values.source,
    prefix: values.prefix,
    jobs: values.jobs
  })
  if (built.cached) process.stderr.write(`Python ${built.version}${values.stock ? ' (stock)' : ' with the NVTX GIL patch'} is already built\n`)
  process.stdout.write(`${built.python}\n`)
  return 0
}

export const command: Command = {
  name: 'python',
  synopsis: 'python build 3.X',
  summary: 'build a CPython with the NVTX GIL patch; prints its path',
  help,
  main: python
}
