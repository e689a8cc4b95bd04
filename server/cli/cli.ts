// The `gilwatch` command line: finds the command and runs it. Each command is a file in
// server/cli/commands/ (its flags, its help and its handler); flags are parsed and checked in
// server/cli/flags.ts.
import fs from 'node:fs'
import path from 'node:path'
import { command as demo } from './commands/demo'
import { command as env } from './commands/env'
import { command as exportTrace } from './commands/export'
import { command as python } from './commands/python'
import { command as record } from './commands/record'
import { command as report } from './commands/report'
import { command as run } from './commands/run'
import { command as serve } from './commands/serve'
import { command as view } from './commands/view'
import { GilwatchError, errors } from '../errors'

export interface Command {
  name: string
  synopsis: string // after `gilwatch ` in the overview
  summary: string // one line in the overview
  help: string // `gilwatch help NAME`, `gilwatch NAME --help`
  main: (args: string[]) => number | Promise<number>
}

// In the order of the overview and of the unknown-command error.
const commands: Command[] = [run, demo, serve, env, record, report, view, exportTrace, python]
const byName = new Map(commands.map((c) => [c.name, c]))

const version: string = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')).version

const usageLine = (synopsis: string, summary: string) => `  ${`gilwatch ${synopsis}`.padEnd(40)}${summary}`
const usage = `gilwatch ${version}: live monitoring of the CPython GIL

Usage:
${[...commands.map((c) => usageLine(c.synopsis, c.summary)), usageLine('help COMMAND', 'help for one command')].join('\n')}

Examples:
  gilwatch run -- python3 my_service.py
  gilwatch run --record run.gwrec --json --summary summary.json -- python3 job.py
  gilwatch export run.gwrec --perfetto trace.json`

export async function main (argv: string[]): Promise<number> {
  const [name, ...args] = argv
  try {
    const command = name === undefined ? undefined : byName.get(name)
    // After `--` come a program's own arguments (`gilwatch run -- CMD --help`).
    const own = args.includes('--') ? args.slice(0, args.indexOf('--')) : args
    if (command && (own.includes('--help') || own.includes('-h'))) {
      process.stdout.write(`${command.help}\n`)
      return 0
    }
    if (command) return await command.main(args)
    switch (name) {
      case undefined:
      case '-h':
      case '--help':
        process.stdout.write(`${usage}\n`)
        return 0
      case 'help': {
        const topic = args[0] === undefined ? undefined : byName.get(args[0])
        process.stdout.write(`${topic?.help ?? usage}\n`)
        return args[0] && !topic ? 2 : 0
      }
      case '--version':
        process.stdout.write(`${version}\n`)
        return 0
      default:
        throw errors.unknownCommand(`unknown command "${name}". Commands: ${[...commands.map((c) => c.name), 'help'].join(', ')}`)
    }
  } catch (error) {
    if (error instanceof GilwatchError) {
      process.stderr.write(`gilwatch: ${error.message}\n`)
      return 2
    }
    throw error
  }
}
