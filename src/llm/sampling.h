// Choosing the next token from logits: greedy, temperature, top-k, top-p.
// Uses its own seeded generator (not libtorch's), so a seed gives the same
// tokens on every device and libtorch version.
#pragma once
#include <torch/nn.h>

#include <cstdint>
#include <random>

namespace userllm::llm {

struct SamplingParams {
  float temperature = 0.0f;  // 0 = greedy argmax
  int64_t top_k = 0;         // 0 = whole vocabulary
  float top_p = 1.0f;        // nucleus mass kept, in (0, 1]
  uint64_t seed = 0;
  void validate() const;     // userllm::Error on out-of-range values
};

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
