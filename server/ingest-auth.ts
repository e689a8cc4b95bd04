// Who may send data to the ingest listeners (docs/security.md, "Sockets and ingest
// authentication"). Over TCP anyone who reaches the port can connect, so with
// --ingest-token-file a TCP connection must open with an AUTH frame carrying the token;
// without a token, TCP may only listen on loopback. The Unix socket's permissions (0600, in
// a directory only this user can write) already say who the peer is: there AUTH is optional,
// but checked when sent, so a misconfigured token shows up the same way on both transports.
//
// The check runs here, on the raw bytes, before the decoder and the recorder see them:
// the native decoder (native/addon/decoder.cc) stays unaware of tokens, and the token never
// lands in a recording. A server without a token drops an AUTH frame it is sent, so a
// process configured with a token still reports to it.
import { isLoopbackAddress, tokenDigest, tokenMatches, validateToken } from './access'
import { errors, type DecodeError } from './errors'
import { FRAME_ALIGN, FrameType, MAX_TOKEN_BYTES, layout, padded } from './protocol'

const HEADER = layout.frameHeader.size
const MAX_AUTH_BODY = padded(MAX_TOKEN_BYTES)

export class IngestToken {
  private readonly digest: Buffer

  constructor (token: string, source = 'the ingest token') {
    validateToken(token, source)
    if (Buffer.byteLength(token) > MAX_TOKEN_BYTES) {
      throw errors.badTokenFile(`${source}: the ingest token must be at most ${MAX_TOKEN_BYTES} bytes (the protocol's AUTH frame)`)
    }
    this.digest = tokenDigest(token)
  }

  matches (candidate: Buffer): boolean { return tokenMatches(candidate, this.digest) }
}

// TCP ingest needs a token on every address, loopback included: the Unix socket already
// serves this user's processes without one, so TCP is there for peers the socket does not
// admit (other users, containers, other hosts), and those are exactly the peers to
// authenticate. Every local user can reach a loopback port; without a token any of them
// could invent processes and fill the server's limits. Only on an explicit waiver.
export function checkIngestExposure (host: string, options: { token?: IngestToken | null, insecureNoIngestToken?: boolean }): void {
  if (options.token || options.insecureNoIngestToken) return
  const reach = isLoopbackAddress(host) ? 'every user of this machine' : 'beyond this machine'
  throw errors.unauthenticatedNetworkIngest(`--tcp ${host} accepts monitored processes from ${reach} with no authentication: ` +
    'give --ingest-token-file FILE (a random token, chmod 600; the processes get GILWATCH_TOKEN_FILE, see `gilwatch env --ingest-token-file`), ' +
    'or --insecure-no-ingest-token if everyone who can reach the port may send data (processes of this user need no TCP: they use the Unix socket)')
}

export type GateResult = { bytes: Buffer, error?: undefined } | { bytes?: undefined, error: DecodeError }

// One per connection: holds back the first frame until it knows whether it is AUTH, then
// passes every byte through untouched.
export class IngestGate {
  private held: Buffer = Buffer.alloc(0)
  private open = false

  constructor (private readonly token: IngestToken | null, readonly required: boolean) {}

  take (chunk: Buffer): GateResult {
    if (this.open) return { bytes: chunk }
    this.held = this.held.length ? Buffer.concat([this.held, chunk]) : chunk
    if (this.held.length < HEADER) return { bytes: Buffer.alloc(0) }
    const type = this.held.readUInt16LE(layout.frameHeader.type)
    if (type !== FrameType.AUTH) {
      if (this.required) {
        return refuse('this server needs the ingest token first (AUTH frame): give the process GILWATCH_TOKEN_FILE, ' +
          'as `gilwatch env --ingest-token-file FILE` prints')
      }
      return this.pass(0)
    }
    const length = this.held.readUInt32LE(layout.frameHeader.length)
    if (length === 0 || length > MAX_AUTH_BODY || length % FRAME_ALIGN !== 0) {
      return refuse(`an AUTH frame of ${length} bytes: the token is 1 to ${MAX_TOKEN_BYTES} bytes, padded to ${FRAME_ALIGN}`)
    }
    if (this.held.length < HEADER + length) return { bytes: Buffer.alloc(0) }
    let end = HEADER + length
    while (end > HEADER && this.held[end - 1] === 0) end--
    if (this.token && !this.token.matches(this.held.subarray(HEADER, end))) {
      return refuse('the ingest token does not match the server\'s --ingest-token-file')
    }
    return this.pass(HEADER + length)
  }

  private pass (from: number): GateResult {
    this.open = true
    const bytes = this.held.subarray(from)
    this.held = Buffer.alloc(0)
    return { bytes }
  }
}

function refuse (message: string): GateResult {
  return { error: { code: 'bad_token', message } }
}
