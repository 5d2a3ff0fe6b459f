// String interning and per-field vocabularies (PAD = 0, OOV = 1, min-count).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace userllm::data {

// Dense ids for strings in first-seen order. The strings live in one arena and
// the hash table holds ids only, so millions of keys cost a few bytes each.
class Interner {
 public:
  uint32_t intern(std::string_view s);
  std::optional<uint32_t> find(std::string_view s) const;
  std::string_view str(uint32_t id) const {
    return std::string_view(arena_).substr(offsets_[id], offsets_[id + 1] - offsets_[id]);
  }
  uint32_t size() const { return uint32_t(offsets_.size() - 1); }

 private:
  size_t slot_of(std::string_view s, uint64_t hash) const;
  void grow();
  std::string arena_;
  std::vector<uint64_t> offsets_{0};
  std::vector<uint32_t> slots_;  // id + 1, 0 = empty; open addressing
};

// The vocabulary of one field, built from counts over interned ids.
struct Vocab {
  std::vector<uint32_t> remap;   // interned id -> vocabulary id (OOV when below min-count)
  std::vector<uint32_t> source;  // vocabulary id - 2 -> interned id
  uint32_t size() const { return uint32_t(source.size() + 2); }
};

// Tokens seen at least min_count times get ids 2.. ordered by count
// (descending), ties by string, so ids do not depend on input order. Tokens
// seen but rarer become OOV; unseen ones (count 0) map to PAD.
Vocab build_vocab(const Interner& strings, const std::vector<uint64_t>& counts, uint64_t min_count);

// Ratings are kept as small codes: 0 = none, else 2 * rating + 1 (0.5 steps).
uint8_t rating_code(float rating);
std::string rating_token(uint8_t code);  // "4.5", "3.0"

}  // namespace userllm::data
