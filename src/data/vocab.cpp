#include "data/vocab.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <numeric>

#include "common/error.h"

namespace userllm::data {

size_t Interner::slot_of(std::string_view s, uint64_t hash) const {
  size_t mask = slots_.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask)
    if (slots_[i] == 0 || str(slots_[i] - 1) == s) return i;
}

void Interner::grow() {
  std::vector<uint32_t> old = std::move(slots_);
  slots_.assign(std::max<size_t>(1024, old.size() * 2), 0);
  for (uint32_t v : old)
    if (v) slots_[slot_of(str(v - 1), std::hash<std::string_view>()(str(v - 1)))] = v;
}

uint32_t Interner::intern(std::string_view s) {
  if (2 * (size_t(size()) + 1) > slots_.size()) grow();
  size_t i = slot_of(s, std::hash<std::string_view>()(s));
  if (slots_[i]) return slots_[i] - 1;
  if (size() == UINT32_MAX - 1) fail("too many distinct strings (more than 2^32)");
  uint32_t id = size();
  arena_.append(s);
  offsets_.push_back(arena_.size());
  slots_[i] = id + 1;
  return id;
}

std::optional<uint32_t> Interner::find(std::string_view s) const {
  if (slots_.empty()) return std::nullopt;
  size_t i = slot_of(s, std::hash<std::string_view>()(s));
  if (!slots_[i]) return std::nullopt;
  return slots_[i] - 1;
}

Vocab build_vocab(const Interner& strings, const std::vector<uint64_t>& counts, uint64_t min_count) {
  Vocab v;
  v.remap.assign(strings.size(), 0);
  std::vector<uint32_t> kept;
  for (uint32_t i = 0; i < strings.size(); ++i) {
    uint64_t c = i < counts.size() ? counts[i] : 0;
    if (c == 0) continue;
    if (c >= std::max<uint64_t>(1, min_count))
      kept.push_back(i);
    else
      v.remap[i] = 1;  // OOV
  }
  std::sort(kept.begin(), kept.end(), [&](uint32_t a, uint32_t b) {
    if (counts[a] != counts[b]) return counts[a] > counts[b];
    return strings.str(a) < strings.str(b);
  });
  for (uint32_t k = 0; k < kept.size(); ++k) v.remap[kept[k]] = k + 2;
  v.source = std::move(kept);
  return v;
}

uint8_t rating_code(float rating) {
  if (!std::isfinite(rating) || rating < 0 || rating > 100)
    fail("rating " + std::to_string(rating) + " is out of range (expected 0 to 100)");
  return uint8_t(std::lround(rating * 2) + 1);
}

std::string rating_token(uint8_t code) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.1f", (code - 1) / 2.0);
  return buf;
}

}  // namespace userllm::data
