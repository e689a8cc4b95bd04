// The ingest side's resource limits, defined once (docs/security.md, "Ingest"). Any local
// process that can reach the socket may speak the protocol, so every quantity a client
// controls is bounded here; the TypeScript side reads these defaults through the addon
// (ingestLimits()) rather than repeating them. Over-long text is truncated so an honest
// process keeps working; a count that cannot be truncated drops what is beyond it. Every
// overflow is counted per kind (LimitKind) and shown as gilwatch_limit_overflows_total.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gilwatch {

struct IngestLimits {
  // Text from HELLO and THREAD frames, in bytes (truncated beyond; STRING text is capped
  // by the protocol itself, GW_MAX_STRING_BYTES). Linux caps thread names at 15 bytes and
  // executables at PATH_MAX; Python thread names and command lines can be longer.
  size_t serviceBytes = 256;
  size_t executableBytes = 4096;
  size_t argvBytes = 4096; // all arguments together, as the dashboard's process list shows them
  size_t threadNameBytes = 256;
  // Kept per process, exited threads included until they are forgotten (60 s after exit).
  // Records for threads beyond it are dropped; the process keeps its first threads.
  size_t threadsPerProcess = 1024;
  // Interned texts (domains, messages, categories) per process, by count and total bytes:
  // beyond them a text reads "(other)". The table belongs to the process and goes with it.
  size_t stringsPerProcess = 32768;
  size_t stringBytesPerProcess = 1u << 20;
  // (domain, message) totals per thread (the API's `ranges`); the rest fold into "(other)".
  size_t rangeKeysPerThread = 1024;
  // Ranges a thread may have reported open (an honest sender reports at most 4 levels of 16
  // domains); further OPEN records are dropped.
  size_t openRangesPerThread = 64;
  // GILs (interpreters) counted apart per process; the counts of further ones go to one
  // interp="-1". CPython never reuses interpreter ids, so sub-interpreter churn needs a bound.
  size_t gilsPerProcess = 64;
  // Connected and disconnected (not yet retired) processes. At the limit a new process
  // first retires the longest-disconnected one; if all are connected it is refused.
  size_t liveProcesses = 1024;
  // Open ingest connections, before or after HELLO (each costs a file descriptor).
  size_t connections = 2048;
  // Bytes of incomplete frames held, all connections together (each holds at most one
  // frame, GW_MAX_FRAME_BODY). An honest sender writes whole frames, so its partial frames
  // last microseconds; beyond the budget the connections holding the oldest are closed.
  size_t bufferedBytes = 64u << 20;
  // A frame begun must be complete this soon: one byte a minute cannot hold 1 MiB forever.
  uint32_t frameTimeoutMs = 10000;
  // HELLO and definition frames kept per connection so a rotated recording can start with
  // them; kept only while recording.
  size_t definitionBytesPerConnection = 1u << 20;
  // A connection must send HELLO this soon, and then some frame at least this often (a
  // healthy sender writes STATUS every 10 ms tick, GW_TICK_MS).
  uint32_t helloTimeoutMs = 5000;
  uint32_t idleTimeoutMs = 60000;
  // Series one /metrics scrape may carry for processes; beyond it whole processes are left
  // out: a process once reported keeps its place, newcomers wait for room (metrics_view.cc).
  size_t metricsSeries = 50000;
  // Threads and range totals per process in /api/processes (more are counted, not listed).
  size_t apiThreadsPerProcess = 256;
  size_t apiRangesPerThread = 64;
  // The whole /api/processes answer, in bytes of JSON (estimated as it is built): processes
  // that do not fit are counted in `processesOmitted` (each can be asked for on its own),
  // threads of a process that does not fit whole in its `threadsOmitted`.
  size_t apiResponseBytes = 8u << 20;
};

// What overflowed; the names are the `limit` label values.
enum class LimitKind : uint8_t {
  Service,
  Executable,
  Argv,
  ThreadName,
  Threads,
  Strings,
  RangeKeys,
  OpenRanges,
  Gils,
  LiveProcesses,
  Connections,
  BufferedBytes,
  FrameTimeout,
  Definitions,
  HelloTimeout,
  IdleTimeout,
  MetricsSeries,
  Count_
};
constexpr size_t kLimitKinds = static_cast<size_t>(LimitKind::Count_);

inline const char *limitName(LimitKind kind) {
  switch (kind) {
    case LimitKind::Service: return "service";
    case LimitKind::Executable: return "executable";
    case LimitKind::Argv: return "argv";
    case LimitKind::ThreadName: return "thread_name";
    case LimitKind::Threads: return "threads";
    case LimitKind::Strings: return "strings";
    case LimitKind::RangeKeys: return "range_keys";
    case LimitKind::OpenRanges: return "open_ranges";
    case LimitKind::Gils: return "gils";
    case LimitKind::LiveProcesses: return "live_processes";
    case LimitKind::Connections: return "connections";
    case LimitKind::BufferedBytes: return "buffered_bytes";
    case LimitKind::FrameTimeout: return "frame_timeout";
    case LimitKind::Definitions: return "definitions";
    case LimitKind::HelloTimeout: return "hello_timeout";
    case LimitKind::IdleTimeout: return "idle_timeout";
    case LimitKind::MetricsSeries: return "metrics_series";
    case LimitKind::Count_: break;
  }
  return "unknown";
}

} // namespace gilwatch
