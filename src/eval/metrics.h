// Evaluation metrics as pure functions: ranking (Recall / HitRatio, NDCG),
// classification accuracy, ROUGE-L for generated text, and the mean with its
// standard error for reporting.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace userllm::eval {

// 1 when `gold` is among the first k entries of `ranked`, else 0. With one
// gold item per example (leave-last-out), Recall@k and HitRatio@k coincide.
double hit_at_k(const std::vector<int64_t>& ranked, int64_t gold, int k);
// |top-k ∩ golds| / |golds| (0 when golds is empty); duplicates in ranked count once.
double recall_at_k(const std::vector<int64_t>& ranked, const std::vector<int64_t>& golds, int k);
// One gold item: 1 / log2(rank + 2) for a 0-based rank < k, else 0 (the ideal DCG is 1).
double ndcg_at_k(const std::vector<int64_t>& ranked, int64_t gold, int k);
// Fraction of equal entries; the two vectors must have the same size (non-empty).
double accuracy(const std::vector<int64_t>& predicted, const std::vector<int64_t>& gold);

// Lower-cased (ASCII) whitespace-separated words: ROUGE-L's tokens.
std::vector<std::string> rouge_tokens(std::string_view text);
// ROUGE-L F1 (beta = 1) of a candidate against one reference: with LCS the
// longest common subsequence of their tokens, P = LCS / |candidate|,
// R = LCS / |reference|, F1 = 2PR / (P + R); 0 when either is empty.
double rouge_l_f1(std::string_view candidate, std::string_view reference);

struct MeanStat {
  double mean = 0;
  double std_error = 0;  // sample standard deviation / sqrt(n); 0 when n < 2
  int64_t n = 0;
};
MeanStat mean_stat(const std::vector<double>& values);

}  // namespace userllm::eval
