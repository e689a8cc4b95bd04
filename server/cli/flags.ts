// Every flag of every command, defined once: how node's parseArgs reads it and, for a flag
// with a value, the one function that checks and converts the value, bounds included.
// Commands (server/cli/commands/*.ts) name the flags they take and get checked values back, so a
// flag that several commands share (--http, --record-max-mb, --ingest-token-file) cannot be
// checked two ways. Every error names the flag and what it accepts.
import path from 'node:path'
import { parseArgs } from 'node:util'
import { parseAllowedHosts, readTokenFile } from '../access'
import { parseAddress, parseHostPort } from './address'
import { parseArgvMode } from '../argv'
import { errors } from '../errors'
import type { RecorderTarget } from '../recording'

interface Switch { type: 'boolean' }
interface Valued<T> { type: 'string', parse: (text: string, flag: string) => T }

const on: Switch = { type: 'boolean' }
const valued = <T>(parse: (text: string, flag: string) => T): Valued<T> => ({ type: 'string', parse })
const text = valued((value) => value)

function wholeNumber (min: number, max: number, unit?: string): Valued<number> {
  return valued((value, flag) => {
    const n = Number(value)
    if (!(Number.isInteger(n) && n >= min && n <= max)) {
      throw errors.badFlag(`${flag} ${value} must be a whole number ${unit ? `of ${unit} ` : ''}from ${min} to ${max}`)
    }
    return n
  })
}

// The token is read (and the file's mode checked) as the flag is parsed, so a bad file stops
// the command before it starts a server or a program. Only the file's name goes on to
// monitored processes (GILWATCH_TOKEN_FILE), never the token.
export interface TokenFile { file: string, token: string }
const tokenFile = valued((file, flag): TokenFile => ({ file, token: readTokenFile(file, flag) }))

export const DEFAULT_RECORD_MAX_MB = 1024
// About 1 TB: only there to catch a typo. `serve` had this bound and `run` none; the docs
// state only the default.
const MAX_RECORD_MAX_MB = 1_000_000

export const flags = {
  // where processes report to, and where the server listens
  // empty: the default socket, as for GILWATCH_ADDR (`--addr "$GILWATCH_ADDR"` works unset)
  addr: valued((value, flag) => {
    if (value) parseAddress(value, flag)
    return value
  }),
  socket: valued((value, flag) => {
    if (!path.isAbsolute(value)) throw errors.badFlag(`${flag} ${value} must be an absolute path`)
    return value
  }),
  'no-socket': on,
  tcp: valued((value, flag) => parseHostPort(value, flag)),
  http: valued((value, flag) => parseHostPort(value, flag)),
  'no-http': on,
  // what the server keeps and shows
  recent: wholeNumber(16, 1_000_000),
  'max-thread-labels': wholeNumber(1, 10_000),
  'max-range-keys': wholeNumber(0, 10_000),
  'hold-max-window': wholeNumber(1, 86_400),
  argv: valued((value, flag) => parseArgvMode(value, flag)),
  // access control (docs/security.md)
  'allowed-hosts': valued((value, flag) => parseAllowedHosts(value, flag)),
  'auth-token-file': tokenFile,
  'insecure-no-auth': on,
  'ingest-token-file': tokenFile,
  'insecure-no-ingest-token': on,
  // recordings (docs/protocol.md)
  record: text,
  'record-max-mb': wholeNumber(1, MAX_RECORD_MAX_MB, 'MiB'),
  // the monitored program
  service: text,
  python: text,
  probe: on,
  'no-probe': on,
  seconds: valued((value, flag) => {
    const n = Number(value)
    if (!(n > 0)) throw errors.badFlag(`${flag} ${value} must be a positive number`)
    return n
  }),
  // output
  json: on,
  summary: text,
  perfetto: text,
  html: text, // report: a self-contained HTML page to write
  // files the CLI writes are created, never followed; an existing one of yours is replaced
  // only with this (server/private-file.ts)
  overwrite: on,
  quiet: on,
  // python build
  'disable-gil': on,
  stock: on,
  source: text,
  prefix: text,
  jobs: valued((value, flag) => {
    const n = Number(value)
    if (!(Number.isInteger(n) && n > 0)) throw errors.badFlag(`${flag} ${value} must be a positive whole number`)
    return n
  })
}

export type FlagName = keyof typeof flags
type ValueOf<F> = F extends Valued<infer T> ? T : boolean
export type FlagValues<N extends FlagName> = { [K in N]?: ValueOf<(typeof flags)[K]> }

// Pairs that cannot be given together, checked before any value is (a token file is not read
// when the command line contradicts itself).
const contradictions: Array<[FlagName, FlagName, string?]> = [
  ['socket', 'no-socket'],
  ['http', 'no-http'],
  ['auth-token-file', 'insecure-no-auth'],
  ['ingest-token-file', 'insecure-no-ingest-token'],
  ['probe', 'no-probe'],
  ['probe', 'python', '--python decides by itself']
]

// Parses `args` for `command`, which takes the flags `names` (values are checked in this
// order) and, with `positionals`, arguments that are not flags.
export function parseFlags<N extends FlagName> (command: string, args: string[], names: readonly N[], { positionals = false } = {}):
{ values: FlagValues<N>, positionals: string[] } {
  const options = Object.fromEntries(names.map((name) => [name, { type: flags[name].type }]))
  let parsed: { values: Record<string, string | boolean | undefined>, positionals: string[] }
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: positionals })
  } catch (error) {
    const { code, message } = error as { code?: string, message: string }
    const unknown = /^Unknown option '([^']*)'/.exec(message)
    // Node's advice to put the argument after '--' is dropped: for `run`, '--' starts the
    // program's command line.
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown) {
      throw errors.badFlag(`unknown option ${unknown[1]}. Run \`gilwatch help ${command}\` for the options.`)
    }
    const reason = message.replace(/\. To specify a positional argument.*$/s, '').replace(/\s*\n\s*/g, ' ').replace(/\.$/, '')
    throw errors.badFlag(`${reason}. Run \`gilwatch help ${command}\` for the options.`)
  }
  const given = parsed.values
  for (const [a, b, why] of contradictions) {
    if (given[a] !== undefined && given[b] !== undefined) throw errors.badFlag(`--${a} and --${b} contradict each other${why ? `: ${why}` : ''}`)
  }
  const values: Record<string, unknown> = {}
  for (const name of names) {
    const value = given[name]
    if (value === undefined) continue
    const flag = flags[name] as Switch | Valued<unknown>
    values[name] = flag.type === 'string' ? flag.parse(value as string, `--${name}`) : value
  }
  return { values: values as FlagValues<N>, positionals: parsed.positionals }
}

// The recording FILE that `record`, `report` and `export` take before their flags.
export function recordingFile (command: string, args: string[]): [string, string[]] {
  const [file, ...rest] = args
  if (!file || file.startsWith('-')) throw errors.badFlag(`gilwatch ${command} needs a recording FILE first. Run \`gilwatch help ${command}\``)
  return [file, rest]
}

// What the recorder needs from --record FILE (or `record FILE`), --record-max-mb and --overwrite.
export function recordingTarget (file: string, maxMb = DEFAULT_RECORD_MAX_MB, overwrite = false): RecorderTarget {
  return { path: file, maxBytes: maxMb * 2 ** 20, overwrite }
}
