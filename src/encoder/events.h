// The encoder's view of a prepared dataset: every event as a row of field ids
// (the dataset's fields plus the derived time-gap bucket), per-user offsets and
// the leave-last-out split points. Tests build it directly from planted data.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace userllm::data {
class Dataset;
}

namespace userllm::encoder {

// The time-gap field: 0 PAD, 2 = first event of a user, 3.. = 3 + floor(log2(1 + minutes)).
inline constexpr int kGapVocab = 32;
uint32_t gap_bucket(int64_t seconds);

struct Events {
  std::vector<std::string> field_names;
  std::vector<int> field_vocab;   // including PAD and OOV
  std::vector<uint32_t> tokens;   // [num_events * num_fields()]
  std::vector<uint64_t> offsets;  // user u owns events [offsets[u], offsets[u + 1])
  std::vector<uint64_t> train_end, validation_end;  // per user; test = [validation_end, end)

  int num_fields() const { return static_cast<int>(field_names.size()); }
  uint32_t num_users() const { return static_cast<uint32_t>(offsets.size() - 1); }
  uint64_t num_events() const { return offsets.back(); }
  const uint32_t* event(uint64_t e) const { return tokens.data() + e * num_fields(); }
  int field_index(const std::string& name) const;  // -1 when absent
  void check() const;  // throws userllm::Error when sizes or ids are inconsistent
};

// Copies the dataset's columns (and computes the gap field when time_gap).
Events events_from(const data::Dataset& ds, bool time_gap);

}  // namespace userllm::encoder
