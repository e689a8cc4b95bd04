// The per-process string tables (string_table.h).
#include "string_table.h"

namespace gilwatch {

StringTable::StringTable() {
  intern("");        // id 0: NVTX's default domain, "no message"
  intern("(other)"); // id 1: beyond the process's limits
}

StringTable &StringTable::operator=(const StringTable &other) {
  if (this == &other) return *this;
  texts_.clear();
  ids_.clear(); // its views point into `other`: rebuilt over our own copies
  bytes_ = 0;
  for (const std::string &text : other.texts_) intern(text);
  return *this;
}

uint32_t StringTable::intern(std::string_view text, size_t maxCount, size_t maxBytes) {
  auto found = ids_.find(text);
  if (found != ids_.end()) return found->second;
  if (texts_.size() >= maxCount || bytes_ + text.size() > maxBytes) return overflowId();
  uint32_t id = static_cast<uint32_t>(texts_.size());
  texts_.emplace_back(text);
  bytes_ += text.size();
  ids_.emplace(texts_.back(), id);
  return id;
}

} // namespace gilwatch
