// Bundles the dashboard (dashboard/*.ts, uPlot and the CSS, all from npm: no CDN) into
// dist/dashboard/.
'use strict'
const fs = require('node:fs')
const path = require('node:path')

const root = path.resolve(__dirname, '..')

function buildDashboard () {
  const esbuild = require('esbuild')
  const out = path.join(root, 'dist', 'dashboard')
  fs.mkdirSync(out, { recursive: true })
  esbuild.buildSync({
    entryPoints: [path.join(root, 'dashboard', 'main.ts')],
    bundle: true,
    minify: true,
    sourcemap: true,
    format: 'iife',
    target: ['chrome100', 'firefox100', 'safari15'],
    outfile: path.join(out, 'app.js'), // app.css comes out beside it
    logLevel: 'warning'
  })
  fs.copyFileSync(path.join(root, 'dashboard', 'index.html'), path.join(out, 'index.html'))
}

module.exports = { buildDashboard }
if (require.main === module) buildDashboard()
