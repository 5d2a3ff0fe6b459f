// Small event data with planted structure for the encoder tests: each user
// prefers one genre and mostly walks through that genre's items in order, so
// the next item is predictable from the history and popularity is not enough.
#pragma once
#include <random>

#include "encoder/events.h"

namespace userllm::test {

inline encoder::Events planted_events(uint32_t users = 60, int per_user = 30, uint64_t seed = 7) {
  const int genres = 5, items = 60;  // item ids 2..61, genre of item i = 2 + (i - 2) % genres
  encoder::Events ev;
  ev.field_names = {"item", "genre", "rating"};
  ev.field_vocab = {items + 2, genres + 2, 12};
  std::mt19937_64 rng(seed);
  ev.offsets.push_back(0);
  for (uint32_t u = 0; u < users; ++u) {
    const int fav = static_cast<int>(u % genres);
    int cur = fav + genres * static_cast<int>(rng() % (items / genres));
    const int n = per_user - static_cast<int>(u % 7);  // uneven lengths
    for (int t = 0; t < n; ++t) {
      if (rng() % 10 == 0) cur = static_cast<int>(rng() % items);
      else cur = (cur + genres) % items;
      ev.tokens.push_back(2 + cur);
      ev.tokens.push_back(2 + cur % genres);
      ev.tokens.push_back(2 + static_cast<uint32_t>(rng() % 10));
    }
    const uint64_t end = ev.offsets.back() + n;
    ev.offsets.push_back(end);
    ev.train_end.push_back(end - 2);
    ev.validation_end.push_back(end - 1);
  }
  ev.check();
  return ev;
}

}  // namespace userllm::test
