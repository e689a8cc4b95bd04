// One ingest connection: reassembles frames from arbitrary byte chunks, validates them
// against the wire protocol and applies them to the NativeStore. Any violation fails the
// connection (never the server) with a stable error code.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store.h"

namespace gilwatch {

struct DecodeError {
  std::string code; // a code of native/protocol/decode_errors.h; empty: no error
  std::string message;
  bool failed() const { return !code.empty(); }
};

constexpr size_t kKeptPartialBytes = 64 * 1024;

class Connection {
 public:
  // `owner`: the credentials of the peer (a local user, a token holder, a remote address),
  // as the server's ingest determined them; see NativeStore::attach. `regionDirectory` and
  // `uid`: where the process's shared totals region is and whose it must be (the Unix
  // socket's directory and the peer's user); empty for TCP, which has none.
  Connection(NativeStore &store, std::string owner, std::string regionDirectory = {}, int64_t uid = -1)
      : store_(store), owner_(std::move(owner)), regionDirectory_(std::move(regionDirectory)), uid_(uid) {}
  ~Connection() { close(0); }

  // Consumes a chunk of the stream. After an error the connection must be closed.
  DecodeError feed(const uint8_t *data, size_t size, uint64_t serverNowNs);
  void close(uint64_t serverNowNs);
  Process *process() const { return process_; }
  // Bytes of an incomplete frame held for the next chunk (the server bounds their sum).
  size_t bufferedBytes() const { return partial_.size(); }
  // When the incomplete frame's first byte arrived (server clock); meaningless without one.
  uint64_t partialSinceNs() const { return partialSinceNs_; }
  const std::vector<uint8_t> &preamble() const { return preamble_; }

 private:
  DecodeError frame(uint16_t type, const uint8_t *body, uint32_t length, uint64_t serverNowNs);
  DecodeError hello(const uint8_t *body, uint32_t length, uint64_t serverNowNs);

  NativeStore &store_;
  std::string owner_;
  std::string regionDirectory_;
  int64_t uid_;
  Process *process_ = nullptr;
  bool closed_ = false;
  DecodeError error_;
  std::vector<uint8_t> partial_; // an incomplete frame carried to the next chunk
  uint64_t partialSinceNs_ = 0;
  std::vector<uint8_t> preamble_; // HELLO, STRING and THREAD frames, as received (bounded)
  bool preambleFull_ = false;
};

} // namespace gilwatch
