// A monitored process's shared totals region (layout and rules: the protocol header), read
// by the server: its exact GIL counts without the connection, after the process ended
// however it ended. The file is untrusted input like any frame: it is opened without
// following links, must be a regular file of the expected owner and size, and every count
// read from it is clamped to the layout.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../protocol/gilwatch_protocol.h"

namespace gilwatch {

class SharedRegion {
 public:
  struct Slot {
    uint32_t thread = 0;
    uint32_t tid = 0;
    bool exited = false;
    std::string name;
    std::vector<gw_gil_totals> totals;
  };
  struct Snapshot {
    uint32_t state = 0;         // gw_shared_state
    uint64_t droppedEvents = 0; // as in STATUS, including the sender's last flush
    std::vector<Slot> slots;
    std::vector<gw_gil_totals> retired;
    std::vector<gw_gil_contention> contention; // contended time per GIL (waiters: now)
  };

  // Maps `path` read-only. nullptr with `why` set when it is absent, not a regular file of
  // `ownerUid` (-1: any), not a whole region, or not one of `instance` (0: any).
  static std::unique_ptr<SharedRegion> open(const std::string &path, int64_t ownerUid, uint64_t instance,
                                            std::string &why);
  ~SharedRegion();
  SharedRegion(const SharedRegion &) = delete;
  SharedRegion &operator=(const SharedRegion &) = delete;

  const gw_shared_header &header() const { return *header_; }
  const std::string &path() const { return path_; }
  // Every slot in use, the retired sum and the contention, each copied consistently (a
  // writer that died mid-update leaves its last hold half-counted, taken as it is).
  Snapshot read() const;
  // Whether the process that made the region is gone (no such pid, a zombie, or another
  // process under its pid): then the region is final.
  bool processGone() const;
  // Removes the file (its reader has taken the final numbers).
  void remove() const;

 private:
  SharedRegion(const gw_shared_header *header, std::string path) : header_(header), path_(std::move(path)) {}
  const gw_shared_header *header_;
  std::string path_;
};

// The region file of `instance` in `directory`.
std::string regionPath(const std::string &directory, uint64_t instance);

} // namespace gilwatch
