// Serves the bundled dashboard (dist/dashboard/, built by `npm install`).
import fs from 'node:fs'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'

const directory = path.resolve(__dirname, '..', 'dashboard')
const files: Record<string, string> = {
  '/': 'index.html',
  '/index.html': 'index.html',
  '/app.js': 'app.js',
  '/app.css': 'app.css',
  '/app.js.map': 'app.js.map',
  '/app.css.map': 'app.css.map'
}
const types: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json' }

export function registerDashboardAssets (app: FastifyInstance): void {
  app.get('/favicon.ico', async (_request, reply) => reply.code(204).send())
  for (const [route, file] of Object.entries(files)) {
    app.get(route, async (_request, reply) => {
      const full = path.join(directory, file)
      if (!fs.existsSync(full)) return reply.code(404).send(`${file} is missing: run \`npm install\` to build the dashboard`)
      reply.type(types[path.extname(file)]).header('cache-control', 'no-cache')
      return fs.createReadStream(full)
    })
  }
}
