// Choosing the next token from logits: greedy, temperature, top-k, top-p.
// Uses its own seeded generator (not libtorch's), so a seed gives the same
// tokens on every device and libtorch version.
#pragma once
#include <torch/nn.h>

#include <cstdint>
#include <random>

#include "llm/sampling_params.h"

namespace userllm::llm {

class Sampler {
 public:
  explicit Sampler(SamplingParams p);
  // logits: one row [vocab], any device/dtype.
  int64_t sample(const torch::Tensor& logits);
  // The probabilities sample() draws from (after temperature, top-k, top-p), for tests.
  std::vector<float> distribution(const torch::Tensor& logits) const;

 private:
  SamplingParams p_;
  std::mt19937_64 rng_;
};

}  // namespace userllm::llm
