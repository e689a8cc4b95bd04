// Style and lint for the TypeScript (server, dashboard, tests, benchmarks): neostandard, the
// fastify/pino style this codebase follows. `npm run lint` runs it after the type checks.
'use strict'
const neostandard = require('neostandard')

module.exports = [
  ...neostandard({ ts: true, ignores: ['dist/**', 'build/**', 'node_modules/**', '.cache/**'] }),
  {
    rules: {
      'new-cap': ['error', { newIsCapExceptions: ['uPlot'], capIsNewExceptions: ['Fastify'] }] // the libraries' own spellings
    }
  }
]
