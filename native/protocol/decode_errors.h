/*
 * Why a gilwatch receiver closes an ingest connection: each code once, with what it means.
 *
 * The server's decoder (native/addon) reports these; server/errors.ts mirrors the codes for
 * TypeScript and test/protocol.test.ts proves the mirror and docs/protocol.md agree with this
 * table. Codes are stable: users match on them in logs.
 */
#ifndef GILWATCH_DECODE_ERRORS_H
#define GILWATCH_DECODE_ERRORS_H

/* X(NAME, "code", "meaning") */
#define GW_DECODE_ERRORS(X)                                                                      \
  X(EXPECTED_HELLO, "expected_hello", "the first frame is not HELLO")                            \
  X(DUPLICATE_HELLO, "duplicate_hello", "a second HELLO on one connection")                      \
  X(BAD_MAGIC, "bad_magic", "not a gilwatch stream")                                             \
  X(BAD_VERSION, "bad_version", "another protocol version or record size")                       \
  X(BAD_LENGTH, "bad_length", "a length that is not a multiple of 8 or overruns its frame")      \
  X(FRAME_TOO_LARGE, "frame_too_large", "a frame length above GW_MAX_FRAME_BODY")                \
  X(UNKNOWN_FRAME, "unknown_frame", "an unknown frame type")                                     \
  X(BAD_ID, "bad_id", "an id outside its range")                                                 \
  X(UNKNOWN_ID, "unknown_id", "a record or exit for an undefined thread, domain or message")     \
  X(BAD_RECORD, "bad_record", "an unknown record or string kind")                                \
  X(FOREIGN_INSTANCE, "foreign_instance", "a HELLO for a process another user or token started") \
  X(TOO_MANY_PROCESSES, "too_many_processes", "not a violation: the process limit is reached")   \
  X(BAD_TOKEN, "bad_token", "no AUTH first on TCP to a server with a token, or another token")

enum gw_decode_error {
  GW_DECODE_OK = 0,
#define GW_DECODE_ERROR_ENUM(name, code, meaning) GW_DECODE_##name,
  GW_DECODE_ERRORS(GW_DECODE_ERROR_ENUM)
#undef GW_DECODE_ERROR_ENUM
};

static inline const char *gw_decode_error_code(enum gw_decode_error error) {
  switch (error) {
#define GW_DECODE_ERROR_CASE(name, code, meaning) \
  case GW_DECODE_##name: return code;
    GW_DECODE_ERRORS(GW_DECODE_ERROR_CASE)
#undef GW_DECODE_ERROR_CASE
    case GW_DECODE_OK: break;
  }
  return "";
}

#endif
