#include "eval/metrics.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <unordered_set>

#include "common/error.h"

namespace userllm::eval {

static size_t top(const std::vector<int64_t>& ranked, int k) { return std::min(ranked.size(), size_t(std::max(k, 0))); }

double hit_at_k(const std::vector<int64_t>& ranked, int64_t gold, int k) {
  size_t n = top(ranked, k);
  return std::find(ranked.begin(), ranked.begin() + n, gold) != ranked.begin() + n ? 1.0 : 0.0;
}

double recall_at_k(const std::vector<int64_t>& ranked, const std::vector<int64_t>& golds, int k) {
  std::unordered_set<int64_t> g(golds.begin(), golds.end()), found;
  if (g.empty()) return 0;
  for (size_t i = 0, n = top(ranked, k); i < n; ++i)
    if (g.count(ranked[i])) found.insert(ranked[i]);
  return double(found.size()) / double(g.size());
}

double ndcg_at_k(const std::vector<int64_t>& ranked, int64_t gold, int k) {
  for (size_t i = 0, n = top(ranked, k); i < n; ++i)
    if (ranked[i] == gold) return 1.0 / std::log2(double(i) + 2.0);
  return 0;
}

double accuracy(const std::vector<int64_t>& predicted, const std::vector<int64_t>& gold) {
  if (predicted.size() != gold.size() || gold.empty())
    fail("accuracy: " + std::to_string(predicted.size()) + " predictions for " + std::to_string(gold.size()) +
         " gold labels (need the same, non-zero count)");
  size_t same = 0;
  for (size_t i = 0; i < gold.size(); ++i) same += predicted[i] == gold[i];
  return double(same) / double(gold.size());
}

std::vector<std::string> rouge_tokens(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (!cur.empty()) out.push_back(std::move(cur)), cur.clear();
    } else {
      cur += char(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

double rouge_l_f1(std::string_view candidate, std::string_view reference) {
  auto c = rouge_tokens(candidate), r = rouge_tokens(reference);
  if (c.empty() || r.empty()) return 0;
  // LCS by dynamic programming over one rolling row.
  std::vector<size_t> row(r.size() + 1, 0);
  for (size_t i = 1; i <= c.size(); ++i) {
    size_t diag = 0;
    for (size_t j = 1; j <= r.size(); ++j) {
      size_t up = row[j];
      row[j] = c[i - 1] == r[j - 1] ? diag + 1 : std::max(row[j], row[j - 1]);
      diag = up;
    }
  }
  double lcs = double(row[r.size()]);
  if (lcs == 0) return 0;
  double p = lcs / double(c.size()), rec = lcs / double(r.size());
  return 2 * p * rec / (p + rec);
}

MeanStat mean_stat(const std::vector<double>& values) {
  MeanStat s;
  s.n = int64_t(values.size());
  if (values.empty()) return s;
  for (double v : values) s.mean += v;
  s.mean /= double(s.n);
  if (s.n < 2) return s;
  double ss = 0;
  for (double v : values) ss += (v - s.mean) * (v - s.mean);
  s.std_error = std::sqrt(ss / double(s.n - 1)) / std::sqrt(double(s.n));
  return s;
}

}  // namespace userllm::eval
