// Frame reassembly and validation (see decoder.h and docs/protocol.md).
#include "decoder.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace gilwatch {

namespace {

DecodeError fail(gw_decode_error code, std::string message) {
  return DecodeError{gw_decode_error_code(code), std::move(message)};
}

template <typename T>
T load(const uint8_t *p) {
  T value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

// At most `limit` bytes of `text`, cut before a UTF-8 continuation byte so the result stays
// valid text; counts an overflow when it cuts.
std::string_view truncated(std::string_view text, size_t limit, NativeStore &store, LimitKind kind) {
  if (text.size() <= limit) return text;
  store.overflow(kind);
  while (limit > 0 && (static_cast<uint8_t>(text[limit]) & 0xC0) == 0x80) limit--;
  return text.substr(0, limit);
}

} // namespace

DecodeError Connection::feed(const uint8_t *data, size_t size, uint64_t serverNowNs) {
  if (error_.failed()) return error_;
  store_.counters().bytesReceived += size;
  auto tooLarge = [](uint32_t length) {
    return fail(GW_DECODE_FRAME_TOO_LARGE, "frame of " + std::to_string(length) + " bytes exceeds the limit of " +
                                               std::to_string(GW_MAX_FRAME_BODY));
  };
  while (size > 0) {
    // Fast path: whole frames straight from the chunk.
    if (partial_.empty() && size >= sizeof(gw_frame_header)) {
      gw_frame_header header = load<gw_frame_header>(data);
      if (header.length > GW_MAX_FRAME_BODY) return error_ = tooLarge(header.length);
      size_t total = sizeof header + header.length;
      if (size >= total) {
        error_ = frame(header.type, data + sizeof header, header.length, serverNowNs);
        if (error_.failed()) return error_;
        data += total;
        size -= total;
        continue;
      }
    }
    // Slow path: a frame split across chunks is assembled in partial_.
    if (partial_.empty()) partialSinceNs_ = serverNowNs;
    if (partial_.size() < sizeof(gw_frame_header)) {
      size_t take = std::min(size, sizeof(gw_frame_header) - partial_.size());
      partial_.insert(partial_.end(), data, data + take);
      data += take;
      size -= take;
      if (partial_.size() < sizeof(gw_frame_header)) return {};
      uint32_t length = load<gw_frame_header>(partial_.data()).length;
      if (length > GW_MAX_FRAME_BODY) return error_ = tooLarge(length);
    }
    gw_frame_header header = load<gw_frame_header>(partial_.data());
    size_t total = sizeof header + header.length;
    size_t take = std::min(size, total - partial_.size());
    partial_.insert(partial_.end(), data, data + take);
    data += take;
    size -= take;
    if (partial_.size() < total) return {};
    error_ = frame(header.type, partial_.data() + sizeof header, header.length, serverNowNs);
    partial_.clear();
    if (partial_.capacity() > kKeptPartialBytes)
      std::vector<uint8_t>().swap(partial_); // a large frame's memory goes back
    if (error_.failed()) return error_;
  }
  return {};
}

void Connection::close(uint64_t serverNowNs) {
  if (closed_) return;
  closed_ = true;
  if (process_) store_.detach(process_, serverNowNs);
  process_ = nullptr;
}

DecodeError Connection::hello(const uint8_t *body, uint32_t length, uint64_t serverNowNs) {
  if (length < sizeof(gw_hello)) return fail(GW_DECODE_BAD_LENGTH, "HELLO frame is shorter than its header");
  gw_hello hello = load<gw_hello>(body);
  if (hello.magic != GW_PROTOCOL_MAGIC) return fail(GW_DECODE_BAD_MAGIC, "not a gilwatch stream (bad magic)");
  if (hello.version != GW_PROTOCOL_VERSION)
    return fail(GW_DECODE_BAD_VERSION, "protocol version " + std::to_string(hello.version) +
                                           " is not supported (server speaks " + std::to_string(GW_PROTOCOL_VERSION) +
                                           ")");
  if (hello.record_size != sizeof(gw_record))
    return fail(GW_DECODE_BAD_VERSION, "record size " + std::to_string(hello.record_size) + " does not match " +
                                           std::to_string(sizeof(gw_record)));
  uint64_t variable = uint64_t{hello.service_length} + hello.executable_length + hello.argv_length;
  if (sizeof(gw_hello) + variable > length) return fail(GW_DECODE_BAD_LENGTH, "HELLO strings overrun the frame");
  const IngestLimits &limits = store_.limits();
  const char *text = reinterpret_cast<const char *>(body + sizeof(gw_hello));
  std::string service(truncated({text, hello.service_length}, limits.serviceBytes, store_, LimitKind::Service));
  std::string executable(truncated({text + hello.service_length, hello.executable_length}, limits.executableBytes,
                                   store_, LimitKind::Executable));
  // The arguments are cut once their total reaches the limit (the last one kept may be cut).
  std::string_view args(text + hello.service_length + hello.executable_length, hello.argv_length);
  std::string_view kept =
      args.size() > limits.argvBytes ? truncated(args, limits.argvBytes, store_, LimitKind::Argv) : args;
  std::vector<std::string> argv;
  for (size_t start = 0; start < kept.size();) {
    size_t end = kept.find('\0', start);
    if (end == std::string_view::npos) end = kept.size();
    argv.emplace_back(kept.substr(start, end - start));
    start = end + 1;
  }
  gw_decode_error refusal = GW_DECODE_OK;
  process_ =
      store_.attach(hello, std::move(service), std::move(executable), std::move(argv), owner_, serverNowNs, refusal);
  if (refusal == GW_DECODE_FOREIGN_INSTANCE) {
    char instance[17];
    std::snprintf(instance, sizeof instance, "%016llx", static_cast<unsigned long long>(hello.instance));
    return fail(refusal, std::string("process instance ") + instance + " was started by " +
                             store_.find(hello.instance)->owner + ", not by this connection's " + owner_ +
                             ": only the credentials that started a process may continue it");
  }
  if (!process_)
    return fail(GW_DECODE_TOO_MANY_PROCESSES, "the server already follows " + std::to_string(limits.liveProcesses) +
                                                  " connected processes (IngestLimits::liveProcesses)");
  if (!regionDirectory_.empty()) store_.openRegion(*process_, regionDirectory_, uid_);
  return {};
}

DecodeError Connection::frame(uint16_t type, const uint8_t *body, uint32_t length, uint64_t serverNowNs) {
  if (length % GW_FRAME_ALIGN != 0)
    return fail(GW_DECODE_BAD_LENGTH, "frame length " + std::to_string(length) + " is not a multiple of 8");
  // Definitions are kept, while recording, so a rotated recording can start with them.
  if (store_.options().keepDefinitions &&
      (type == GW_FRAME_HELLO || type == GW_FRAME_STRING || type == GW_FRAME_THREAD)) {
    if (preamble_.size() + length + sizeof(gw_frame_header) <= store_.limits().definitionBytesPerConnection) {
      const uint8_t *header = body - sizeof(gw_frame_header);
      preamble_.insert(preamble_.end(), header, body + length);
    } else if (!preambleFull_) {
      preambleFull_ = true; // counted once per connection: each frame beyond would be noise
      store_.overflow(LimitKind::Definitions);
    }
  }
  if (!process_) {
    if (type != GW_FRAME_HELLO) return fail(GW_DECODE_EXPECTED_HELLO, "the first frame must be HELLO");
    return hello(body, length, serverNowNs);
  }
  Process &process = *process_;
  switch (type) {
    case GW_FRAME_HELLO: return fail(GW_DECODE_DUPLICATE_HELLO, "HELLO sent twice on one connection");

    case GW_FRAME_STRING: {
      if (length < sizeof(gw_string)) return fail(GW_DECODE_BAD_LENGTH, "STRING frame is shorter than its header");
      gw_string header = load<gw_string>(body);
      if (header.length > GW_MAX_STRING_BYTES || sizeof header + header.length > length)
        return fail(GW_DECODE_BAD_LENGTH, "STRING text overruns the frame");
      if (header.kind == GW_STRING_DOMAIN && (header.id == GW_DEFAULT_DOMAIN || header.id >= GW_MAX_DOMAINS))
        return fail(GW_DECODE_BAD_ID, "domain id " + std::to_string(header.id) + " is out of range");
      if (header.kind == GW_STRING_MESSAGE && (header.id == GW_NO_MESSAGE || header.id >= GW_MAX_STRINGS))
        return fail(GW_DECODE_BAD_ID, "message id " + std::to_string(header.id) + " is out of range");
      if (header.kind == GW_STRING_CATEGORY && header.domain >= GW_MAX_DOMAINS)
        return fail(GW_DECODE_BAD_ID, "category domain " + std::to_string(header.domain) + " is out of range");
      if (header.kind < GW_STRING_DOMAIN || header.kind > GW_STRING_CATEGORY)
        return fail(GW_DECODE_BAD_RECORD, "unknown string kind " + std::to_string(header.kind));
      store_.defineString(process, header,
                          std::string_view(reinterpret_cast<const char *>(body + sizeof header), header.length));
      return {};
    }

    case GW_FRAME_THREAD: {
      if (length < sizeof(gw_thread_info)) return fail(GW_DECODE_BAD_LENGTH, "THREAD frame is shorter than its header");
      gw_thread_info info = load<gw_thread_info>(body);
      if (info.thread == 0 || info.thread >= GW_MAX_THREADS)
        return fail(GW_DECODE_BAD_ID, "thread id " + std::to_string(info.thread) + " is out of range");
      if (sizeof info + info.name_length > length) return fail(GW_DECODE_BAD_LENGTH, "THREAD name overruns the frame");
      std::string_view name(reinterpret_cast<const char *>(body + sizeof info), info.name_length);
      store_.defineThread(process, info.thread, info.tid,
                          truncated(name, store_.limits().threadNameBytes, store_, LimitKind::ThreadName));
      return {};
    }

    case GW_FRAME_RECORDS: {
      if (length < sizeof(gw_records_header))
        return fail(GW_DECODE_BAD_LENGTH, "RECORDS frame is shorter than its header");
      gw_records_header header = load<gw_records_header>(body);
      if (sizeof header + uint64_t{header.count} * sizeof(gw_record) > length)
        return fail(GW_DECODE_BAD_LENGTH, "RECORDS count " + std::to_string(header.count) + " overruns the frame");
      Thread *thread = process.thread(header.thread);
      if (!thread && process.refused(header.thread)) return {}; // beyond threadsPerProcess, already counted
      if (!thread) return fail(GW_DECODE_UNKNOWN_ID, "records for undefined thread " + std::to_string(header.thread));
      const uint8_t *first = body + sizeof header;
      std::string error;
      gw_decode_error code = GW_DECODE_OK;
      bool ok;
      if (reinterpret_cast<uintptr_t>(first) % alignof(gw_record) == 0) {
        ok = store_.records(process, *thread, reinterpret_cast<const gw_record *>(first), header.count, code, error);
      } else {
        std::vector<gw_record> aligned(header.count);
        std::memcpy(aligned.data(), first, header.count * sizeof(gw_record));
        ok = store_.records(process, *thread, aligned.data(), header.count, code, error);
      }
      if (!ok) return fail(code, error);
      return {};
    }

    case GW_FRAME_STATUS: {
      if (length < sizeof(gw_status)) return fail(GW_DECODE_BAD_LENGTH, "STATUS frame is shorter than its body");
      timespec realtime;
      clock_gettime(CLOCK_REALTIME, &realtime);
      store_.status(process, load<gw_status>(body), serverNowNs,
                    static_cast<uint64_t>(realtime.tv_sec) * 1000000000u + static_cast<uint64_t>(realtime.tv_nsec));
      return {};
    }

    case GW_FRAME_THREAD_EXIT: {
      if (length < sizeof(gw_thread_exit))
        return fail(GW_DECODE_BAD_LENGTH, "THREAD_EXIT frame is shorter than its body");
      gw_thread_exit message = load<gw_thread_exit>(body);
      Thread *thread = process.thread(message.thread);
      if (!thread && process.refused(message.thread))
        return store_.refusedThreadExit(process, message.thread), DecodeError{};
      if (!thread) return fail(GW_DECODE_UNKNOWN_ID, "exit of undefined thread " + std::to_string(message.thread));
      store_.threadExit(*thread, message.time_ns, serverNowNs);
      return {};
    }

    case GW_FRAME_THREAD_FOLDED: {
      if (length < sizeof(gw_thread_folded))
        return fail(GW_DECODE_BAD_LENGTH, "THREAD_FOLDED frame is shorter than its body");
      store_.threadFolded(process, load<gw_thread_folded>(body).thread, serverNowNs);
      return {};
    }

    case GW_FRAME_GIL_TOTALS: {
      if (length < sizeof(gw_gil_totals_header))
        return fail(GW_DECODE_BAD_LENGTH, "GIL_TOTALS frame is shorter than its header");
      gw_gil_totals_header header = load<gw_gil_totals_header>(body);
      if (header.count > GW_GIL_SLOTS)
        return fail(GW_DECODE_BAD_RECORD,
                    "GIL_TOTALS count " + std::to_string(header.count) + " exceeds " + std::to_string(GW_GIL_SLOTS));
      if (sizeof header + uint64_t{header.count} * sizeof(gw_gil_totals) > length)
        return fail(GW_DECODE_BAD_LENGTH, "GIL_TOTALS count " + std::to_string(header.count) + " overruns the frame");
      Thread *thread = nullptr;
      if (header.thread != GW_RETIRED_THREADS) {
        thread = process.thread(header.thread);
        if (!thread && !process.refused(header.thread))
          return fail(GW_DECODE_UNKNOWN_ID, "totals for undefined thread " + std::to_string(header.thread));
      }
      gw_gil_totals totals[GW_GIL_SLOTS];
      std::memcpy(totals, body + sizeof header, header.count * sizeof(gw_gil_totals));
      store_.gilTotals(process, thread, header.thread, totals, header.count);
      return {};
    }

    case GW_FRAME_GIL_STATE: {
      if (length < sizeof(gw_gil_state_header))
        return fail(GW_DECODE_BAD_LENGTH, "GIL_STATE frame is shorter than its header");
      gw_gil_state_header header = load<gw_gil_state_header>(body);
      if (header.gils > GW_STATE_GILS || header.open > GW_STATE_OPEN)
        return fail(GW_DECODE_BAD_RECORD, "GIL_STATE lists " + std::to_string(header.gils) + " GILs and " +
                                              std::to_string(header.open) + " open ranges, beyond its limits");
      uint64_t need = sizeof header + uint64_t{header.gils} * sizeof(gw_gil_contention) +
                      uint64_t{header.open} * sizeof(gw_gil_open);
      if (need > length) return fail(GW_DECODE_BAD_LENGTH, "GIL_STATE entries overrun the frame");
      std::vector<gw_gil_contention> gils(header.gils);
      std::vector<gw_gil_open> open(header.open);
      std::memcpy(gils.data(), body + sizeof header, gils.size() * sizeof(gw_gil_contention));
      std::memcpy(open.data(), body + sizeof header + gils.size() * sizeof(gw_gil_contention),
                  open.size() * sizeof(gw_gil_open));
      store_.gilState(process, header, gils.data(), open.data());
      return {};
    }

    case GW_FRAME_HOLD_CAUSE: {
      if (length < sizeof(gw_hold_cause))
        return fail(GW_DECODE_BAD_LENGTH, "HOLD_CAUSE frame is shorter than its body");
      gw_hold_cause cause = load<gw_hold_cause>(body);
      Thread *thread = process.thread(cause.thread);
      if (!thread && process.refused(cause.thread)) return {};
      if (!thread) return fail(GW_DECODE_UNKNOWN_ID, "cause for undefined thread " + std::to_string(cause.thread));
      store_.holdCause(process, *thread, cause);
      return {};
    }

    default: return fail(GW_DECODE_UNKNOWN_FRAME, "unknown frame type " + std::to_string(type));
  }
}

} // namespace gilwatch
