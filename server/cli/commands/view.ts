// `gilwatch view FILE`: a recording in the dashboard. The recording is replayed into a
// server that ingests nothing else and forgets nothing: every process of it, ended, with its
// history, worst holds and timeline as the live server had them when it ended.
import type { Command } from '../cli'
import { parseFlags, recordingFile } from '../flags'
import { DEFAULT_HTTP_HOST, DEFAULT_HTTP_PORT } from '../../config'
import { createLogger } from '../../log'
import { replay } from '../../recording'
import { startServer } from '../../start-server'
import { progress } from './report'

const help = `Usage: gilwatch view FILE [--http HOST:PORT] [--quiet]

Opens a recording (gilwatch run --record, gilwatch record) in the dashboard: every process
of it, as the live server had it when it ended, with the charts' range picker over its
whole run and its worst holds. Serves until interrupted; nothing is ingested meanwhile.
--http HOST:PORT as for serve (default ${DEFAULT_HTTP_HOST}:${DEFAULT_HTTP_PORT}; port 0 picks a free one).`

export const command: Command = {
  name: 'view',
  synopsis: 'view FILE [--http HOST:PORT]',
  summary: 'open a recording in the dashboard',
  help,
  main: async (args) => {
    const [file, rest] = recordingFile('view', args)
    const { values } = parseFlags('view', rest, ['http', 'quiet'])
    const logger = createLogger(values.quiet ? 'error' : 'info')
    const server = await startServer({
      socket: null,
      tcp: null,
      http: values.http ?? { host: DEFAULT_HTTP_HOST, port: DEFAULT_HTTP_PORT },
      frozen: true, // a recording is looked at as a whole: no process of it retires or is forgotten
      logger
    })
    try {
      replay(file, server.store, { onProgress: values.quiet ? undefined : progress(file) })
      logger.info(`${file}: ${server.store.list().length} processes`)
      logger.info(`dashboard on ${server.httpUrl}/ (the newest process first; Ctrl-C to stop)`)
    } catch (error) {
      await server.close()
      throw error
    }
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve())
      process.once('SIGTERM', () => resolve())
    })
    await server.close()
    return 0
  }
}
