#include "eval/candidates.h"

#include <random>
#include <unordered_set>

#include "common/error.h"
#include "eval/beam_search.h"

namespace userllm::eval {

std::vector<uint32_t> sample_negatives(uint32_t num_items, uint32_t positive, int n, uint64_t seed,
                                       const std::vector<uint32_t>& exclude) {
  std::unordered_set<uint32_t> banned(exclude.begin(), exclude.end());
  banned.insert(positive);
  uint64_t allowed = 0;
  for (uint32_t i = 2; i < num_items; ++i) allowed += !banned.count(i);
  if (n < 0 || uint64_t(n) > allowed)
    fail("cannot sample " + std::to_string(n) + " negatives: only " + std::to_string(allowed) + " items are eligible");
  std::mt19937_64 rng(seed);
  std::vector<uint32_t> out;
  // Rejection sampling; the modulo keeps it platform-independent (the bias is
  // negligible for catalogue sizes far below 2^64).
  while (out.size() < size_t(n)) {
    uint32_t i = 2 + uint32_t(rng() % (num_items - 2));
    if (banned.insert(i).second) out.push_back(i);
  }
  return out;
}

CandidateResult score_candidates(PrefixModel& model, const std::vector<int64_t>& items,
                                 const std::vector<std::vector<int64_t>>& titles) {
  if (items.empty() || items.size() != titles.size())
    fail("score_candidates: need one title per candidate, and at least one candidate");
  CandidateResult r;
  r.items = items;
  std::vector<double> lp = model.score(titles);
  for (size_t i = 0; i < lp.size(); ++i) r.scores.push_back(normalised_score(lp[i], titles[i].size()));
  for (size_t i = 1; i < r.scores.size(); ++i) r.positive_rank += r.scores[i] >= r.scores[0];
  return r;
}

}  // namespace userllm::eval
