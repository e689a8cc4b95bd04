// Interned texts (domain, message, category and thread names), one table per process.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>

namespace gilwatch {

// Interning, one table per process (freed with it): equal texts share one id, so two NVTX
// copies in a process that name the same domain aggregate together, and no process can
// fill the table another one's names live in. Every table starts with the same entries
// (NativeStore's template), so the ids of the GIL names are the same in all of them.
class StringTable {
 public:
  StringTable();
  StringTable(const StringTable &other) { *this = other; }
  StringTable &operator=(const StringTable &other);
  // overflowId() once the table holds `maxCount` texts or `maxBytes` bytes.
  uint32_t intern(std::string_view text, size_t maxCount = SIZE_MAX, size_t maxBytes = SIZE_MAX);
  const std::string &text(uint32_t id) const { return texts_[id]; }
  uint32_t overflowId() const { return 1; }
  size_t size() const { return texts_.size(); }

 private:
  std::deque<std::string> texts_; // a deque: the map's views stay valid as it grows
  std::unordered_map<std::string_view, uint32_t> ids_;
  size_t bytes_ = 0;
};

} // namespace gilwatch
