// Metadata files repeat records (48 gmap_ids twice in Google Local Vermont,
// byte-identical; Amazon 2018 meta has repeats too). The first record of a
// key wins; later ones are counted and dropped so the sink sees each item once.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>

namespace userllm::data {

class SeenKeys {
 public:
  bool first(std::string_view key) {
    if (keys_.emplace(key).second) return true;
    ++repeats_;
    return false;
  }
  uint64_t repeats() const { return repeats_; }

 private:
  std::unordered_set<std::string> keys_;
  uint64_t repeats_ = 0;
};

}  // namespace userllm::data
