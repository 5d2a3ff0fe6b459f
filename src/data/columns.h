// The raw event log as LogBuilder accumulates it: one column per attribute,
// indexed by arrival order, with interned ids instead of strings.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace userllm::data {

// Optional per-event strings (review text, summary). Nothing is stored until
// the first non-empty string arrives; earlier events then read as empty.
class TextColumn {
 public:
  void add(uint64_t event, std::string_view s) {
    if (offsets_.empty()) {
      if (s.empty()) return;
      offsets_.assign(event + 1, 0);
    }
    offsets_.resize(event + 1, bytes_.size());
    bytes_.append(s);
    offsets_.push_back(bytes_.size());
  }
  bool empty() const { return offsets_.empty(); }
  std::string_view at(uint64_t event) const {
    if (event + 1 >= offsets_.size()) return {};
    return std::string_view(bytes_).substr(offsets_[event], offsets_[event + 1] - offsets_[event]);
  }

 private:
  std::string bytes_;
  std::vector<uint64_t> offsets_;
};

struct RawColumns {
  std::vector<uint32_t> user, item;  // interned ids
  std::vector<int64_t> ts;
  std::vector<uint8_t> rating;  // rating_code(): 0 = none
  TextColumn text, summary;
  uint64_t size() const { return ts.size(); }
};

}  // namespace userllm::data
