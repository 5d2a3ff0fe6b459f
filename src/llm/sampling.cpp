#include "llm/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/error.h"

namespace userllm::llm {

void SamplingParams::validate() const {
  if (!(temperature >= 0) || !std::isfinite(temperature)) fail("--temperature must be >= 0");
  if (top_k < 0) fail("--top-k must be >= 0");
  if (!(top_p > 0 && top_p <= 1)) fail("--top-p must be in (0, 1]");
}

Sampler::Sampler(SamplingParams p) : p_(p), rng_(p.seed) { p_.validate(); }

std::vector<float> Sampler::distribution(const torch::Tensor& logits) const {
  auto l = logits.detach().to(torch::kCPU, torch::kFloat32).contiguous().view({-1});
  const float* x = l.data_ptr<float>();
  const int64_t n = l.numel();
  std::vector<float> probs(static_cast<size_t>(n), 0.0f);
  if (p_.temperature == 0) {
    probs[size_t(std::max_element(x, x + n) - x)] = 1.0f;
    return probs;
  }
  // Candidates by descending logit (ties by lower id, so the order is deterministic).
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  int64_t k = p_.top_k > 0 ? std::min(p_.top_k, n) : n;
  auto by_logit = [&](int64_t a, int64_t b) { return x[a] != x[b] ? x[a] > x[b] : a < b; };
  std::partial_sort(order.begin(), order.begin() + k, order.end(), by_logit);
  order.resize(size_t(k));
  std::vector<double> w(order.size());
  const double top = x[order[0]];
  double sum = 0;
  for (size_t i = 0; i < order.size(); ++i) sum += w[i] = std::exp((double(x[order[i]]) - top) / p_.temperature);
  // Keep the smallest prefix whose mass reaches top_p (at least one token).
  size_t keep = order.size();
  if (p_.top_p < 1) {
    double mass = 0;
    for (size_t i = 0; i < order.size(); ++i) {
      mass += w[i] / sum;
      if (mass >= p_.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  double kept = std::accumulate(w.begin(), w.begin() + long(keep), 0.0);
  for (size_t i = 0; i < keep; ++i) probs[size_t(order[i])] = float(w[i] / kept);
  return probs;
}

int64_t Sampler::sample(const torch::Tensor& logits) {
  if (p_.temperature == 0) return logits.argmax().item<int64_t>();
  auto probs = distribution(logits);
  double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng_), acc = 0;
  int64_t last = 0;
  for (size_t i = 0; i < probs.size(); ++i) {
    if (probs[i] <= 0) continue;
    acc += probs[i];
    last = int64_t(i);
    if (u < acc) return last;
  }
  return last;  // rounding left u just above the total
}

}  // namespace userllm::llm
