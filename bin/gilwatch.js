#!/usr/bin/env node
'use strict'
require('../dist/server/cli/cli.js').main(process.argv.slice(2)).then(
  (code) => { if (typeof code === 'number') process.exitCode = code },
  (error) => { console.error(`gilwatch: ${error && error.message ? error.message : error}`); process.exitCode = 1 }
)
