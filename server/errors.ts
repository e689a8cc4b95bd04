// Every error gilwatch reports to a user, in one place, with a stable code (like
// fastify's FST_ERR_*). Messages say what is wrong and how to fix it.

export class GilwatchError extends Error {
  readonly code: string
  constructor (code: string, message: string) {
    super(message)
    this.name = 'GilwatchError'
    this.code = code
  }
}

const make = (code: string) => (message: string) => new GilwatchError(code, message)

export const errors = {
  badFlag: make('GW_ERR_BAD_FLAG'),
  badAddress: make('GW_ERR_BAD_ADDRESS'),
  addressInUse: make('GW_ERR_ADDRESS_IN_USE'),
  unsafeSocketDirectory: make('GW_ERR_UNSAFE_SOCKET_DIR'),
  notASocket: make('GW_ERR_NOT_A_SOCKET'),
  missingBuild: make('GW_ERR_MISSING_BUILD'),
  unknownCommand: make('GW_ERR_UNKNOWN_COMMAND'),
  buildPrerequisite: make('GW_ERR_BUILD_PREREQUISITE'),
  missingInterpreter: make('GW_ERR_MISSING_INTERPRETER'),
  notARecording: make('GW_ERR_NOT_A_RECORDING'),
  unreachableServer: make('GW_ERR_UNREACHABLE_SERVER'),
  pythonBuildFailed: make('GW_ERR_PYTHON_BUILD_FAILED'),
  // A file the CLI would write exists, is a link or is someone else's (server/private-file.ts).
  unsafeOutputFile: make('GW_ERR_UNSAFE_OUTPUT_FILE'),
  // The web side's access control (server/access.ts, docs/security.md).
  unsafeTokenFile: make('GW_ERR_UNSAFE_TOKEN_FILE'),
  badTokenFile: make('GW_ERR_BAD_TOKEN_FILE'),
  unauthenticatedNetworkHttp: make('GW_ERR_UNAUTHENTICATED_NETWORK_HTTP'),
  // TCP ingest without --ingest-token-file beyond loopback (server/ingest-auth.ts).
  unauthenticatedNetworkIngest: make('GW_ERR_UNAUTHENTICATED_NETWORK_INGEST')
}

// Why an HTTP request or a WebSocket upgrade was refused: the `code` of the JSON body.
export const accessErrorCodes = {
  hostNotAllowed: 'GW_ERR_HOST_NOT_ALLOWED',
  originNotAllowed: 'GW_ERR_ORIGIN_NOT_ALLOWED',
  unauthorized: 'GW_ERR_UNAUTHORIZED',
  // 503: a limit of the web side (server/web-limits.ts) is reached for this peer or in all
  tooManyClients: 'GW_ERR_TOO_MANY_CLIENTS'
} as const
export type AccessErrorCode = typeof accessErrorCodes[keyof typeof accessErrorCodes]

// Why the HTTP API refused a request it understood: the `code` beside `error` in the JSON body.
export const apiErrorCodes = {
  badQuery: 'GW_ERR_BAD_QUERY', // 400: a path parameter or query parameter not as its schema declares (server/schemas.ts)
  badRequest: 'GW_ERR_BAD_REQUEST', // 4xx: a request fastify itself refused (a body where none is taken, …)
  noSuchProcess: 'GW_ERR_NO_SUCH_PROCESS', // 404: no process with that instance (or it was forgotten)
  noSuchService: 'GW_ERR_NO_SUCH_SERVICE', // 404: no service with that id (or all its processes were forgotten)
  noSuchHold: 'GW_ERR_NO_SUCH_HOLD', // 404: no worst hold with that id (or its snapshot is not taken yet)
  notFound: 'GW_ERR_NOT_FOUND', // 404: no such path
  internal: 'GW_ERR_INTERNAL' // 500: a fault of the server, counted in gilwatch_client_errors_total and logged
} as const

// Why the server closed an ingest connection: the table in native/protocol/decode_errors.h,
// mirrored (test/protocol.test.ts checks it). bad_token is checked before the decoder, in
// server/ingest-auth.ts; too_many_processes is a limit (docs/security.md), not a violation.
export const decodeErrorCodes = [
  'expected_hello', 'duplicate_hello', 'bad_magic', 'bad_version', 'bad_length', 'frame_too_large',
  'unknown_frame', 'bad_id', 'unknown_id', 'bad_record', 'foreign_instance', 'too_many_processes', 'bad_token'
] as const
export type DecodeErrorCode = typeof decodeErrorCodes[number]
export interface DecodeError { code: DecodeErrorCode, message: string }
