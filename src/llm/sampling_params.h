// What a request may set about choosing tokens. Apart from the sampler
// (llm/sampling.h) and without libtorch, so that request parsing builds light.
#pragma once
#include <cstdint>

namespace userllm::llm {

struct SamplingParams {
  float temperature = 0.0f;  // 0 = greedy argmax
  int64_t top_k = 0;         // 0 = whole vocabulary
  float top_p = 1.0f;        // nucleus mass kept, in (0, 1]
  uint64_t seed = 0;
  void validate() const;     // userllm::Error on out-of-range values
};

}  // namespace userllm::llm
