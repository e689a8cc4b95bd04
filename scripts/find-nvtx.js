#!/usr/bin/env node
// Prints the include directory that holds nvtx3/nvToolsExt.h (the NVTX v3 headers).
// Used by binding.gyp and the test-fixture build. NVTX_INCLUDE_DIR overrides the search.
'use strict'
const fs = require('node:fs')
const path = require('node:path')

function candidates () {
  const dirs = []
  if (process.env.NVTX_INCLUDE_DIR) return [process.env.NVTX_INCLUDE_DIR]
  if (process.env.CUDA_HOME) dirs.push(path.join(process.env.CUDA_HOME, 'include'))
  dirs.push('/usr/local/cuda/include')
  try {
    const versions = fs.readdirSync('/usr/local').filter((d) => /^cuda-\d/.test(d))
      .sort((a, b) => b.localeCompare(a, undefined, { numeric: true }))
    for (const v of versions) dirs.push(path.join('/usr/local', v, 'include'))
  } catch {}
  dirs.push('/usr/include', '/usr/local/include', '/opt/nvidia/include')
  return dirs
}

function findNvtxInclude () {
  for (const dir of candidates()) {
    if (fs.existsSync(path.join(dir, 'nvtx3', 'nvToolsExt.h'))) return path.resolve(dir)
  }
  return null
}

module.exports = { findNvtxInclude }

if (require.main === module) {
  const dir = findNvtxInclude()
  if (!dir) {
    const where = process.env.NVTX_INCLUDE_DIR
      ? `NVTX_INCLUDE_DIR=${process.env.NVTX_INCLUDE_DIR} has no nvtx3/nvToolsExt.h`
      : 'no nvtx3/nvToolsExt.h under /usr/local/cuda*/include, /usr/include or /usr/local/include'
    console.error(`gilwatch: cannot find the NVTX v3 headers: ${where}.\n` +
      'Install the CUDA toolkit or the header-only NVTX v3 (https://github.com/NVIDIA/NVTX), ' +
      'then set NVTX_INCLUDE_DIR to the directory that contains nvtx3/.')
    process.exit(1)
  }
  process.stdout.write(dir)
}
