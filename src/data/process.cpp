#include "data/process.h"

#include <algorithm>
#include <tuple>

namespace userllm::data {

std::vector<uint32_t> order_events(const RawColumns& log, uint32_t num_users, std::vector<uint64_t>& user_offsets) {
  // Counting sort by user keeps arrival order; then a stable sort by time per user.
  user_offsets.assign(uint64_t(num_users) + 1, 0);
  for (uint32_t u : log.user) ++user_offsets[u + 1];
  for (uint32_t u = 0; u < num_users; ++u) user_offsets[u + 1] += user_offsets[u];
  std::vector<uint64_t> next(user_offsets.begin(), user_offsets.end() - 1);
  std::vector<uint32_t> order(log.size());
  for (uint64_t e = 0; e < log.size(); ++e) order[next[log.user[e]]++] = uint32_t(e);
  const int64_t* ts = log.ts.data();
  for (uint32_t u = 0; u < num_users; ++u) {
    auto b = order.begin() + user_offsets[u], e = order.begin() + user_offsets[u + 1];
    if (!std::is_sorted(b, e, [&](uint32_t x, uint32_t y) { return ts[x] < ts[y]; }))
      std::stable_sort(b, e, [&](uint32_t x, uint32_t y) { return ts[x] < ts[y]; });
  }
  return order;
}

uint64_t drop_duplicates(const RawColumns& log, const std::vector<uint32_t>& order,
                         const std::vector<uint64_t>& user_offsets, std::vector<uint8_t>& keep) {
  auto key = [&](uint32_t e) {
    return std::make_tuple(log.item[e], log.rating[e], log.text.at(e), log.summary.at(e), e);
  };
  uint64_t dropped = 0;
  std::vector<uint32_t> group;
  for (size_t u = 0; u + 1 < user_offsets.size(); ++u) {
    // Duplicates share a timestamp, so only runs of equal time need comparing.
    for (uint64_t i = user_offsets[u]; i < user_offsets[u + 1];) {
      uint64_t j = i + 1;
      while (j < user_offsets[u + 1] && log.ts[order[j]] == log.ts[order[i]]) ++j;
      if (j - i > 1) {
        group.assign(order.begin() + i, order.begin() + j);
        std::sort(group.begin(), group.end(), [&](uint32_t a, uint32_t b) { return key(a) < key(b); });
        for (size_t k = 1; k < group.size(); ++k) {
          auto a = key(group[k - 1]), b = key(group[k]);
          std::get<4>(a) = std::get<4>(b) = 0;
          if (a == b && keep[group[k]]) {
            keep[group[k]] = 0;  // the earliest arrival (lowest index) sorts first and stays
            ++dropped;
          }
        }
      }
      i = j;
    }
  }
  return dropped;
}

uint64_t k_core(const RawColumns& log, uint32_t num_users, uint32_t num_items, uint32_t min_user, uint32_t min_item,
                std::vector<uint8_t>& keep) {
  if (min_user <= 1 && min_item <= 1) return 0;
  uint64_t dropped = 0;
  std::vector<uint32_t> per_user(num_users), per_item(num_items);
  for (;;) {
    std::fill(per_user.begin(), per_user.end(), 0);
    std::fill(per_item.begin(), per_item.end(), 0);
    for (uint64_t e = 0; e < log.size(); ++e)
      if (keep[e]) ++per_user[log.user[e]], ++per_item[log.item[e]];
    uint64_t round = 0;
    for (uint64_t e = 0; e < log.size(); ++e)
      if (keep[e] && (per_user[log.user[e]] < min_user || per_item[log.item[e]] < min_item)) keep[e] = 0, ++round;
    if (round == 0) return dropped;
    dropped += round;
  }
}

}  // namespace userllm::data
