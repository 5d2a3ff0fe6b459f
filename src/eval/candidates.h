// Candidate scoring, the LLaRA / A-LLMRec protocol: the positive item and
// sampled negatives, each scored by the LLM's likelihood of its title after
// the prompt; HitRatio@1 asks whether the positive scores highest.
#pragma once
#include <cstdint>
#include <vector>

#include "eval/prefix_model.h"
#include "eval/title_trie.h"

namespace userllm::eval {

// n distinct item ids from [2, num_items), none equal to `positive` or in
// `exclude`, drawn with a seeded mt19937_64 (the same seed gives the same
// negatives on every platform). Throws userllm::Error when too few items remain.
std::vector<uint32_t> sample_negatives(uint32_t num_items, uint32_t positive, int n, uint64_t seed,
                                       const std::vector<uint32_t>& exclude = {});

struct CandidateResult {
  std::vector<int64_t> items;   // the candidates as given (positive first)
  std::vector<double> scores;   // normalised_score() of each title
  int64_t positive_rank = 0;    // candidates scoring >= the positive (ties count against it)
  bool hit_at_1() const { return positive_rank == 0; }
};

// Scores candidates [positive, negatives...]; titles[i] is candidate i's token
// sequence (tasks::answer_ids of its title). Batched through PrefixModel::score.
CandidateResult score_candidates(PrefixModel& model, const std::vector<int64_t>& items,
                                 const std::vector<std::vector<int64_t>>& titles);

}  // namespace userllm::eval
