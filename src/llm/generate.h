// Autoregressive generation for one prompt or a batch of prompts of uneven
// length (left-padded, decoded in lockstep), with a preallocated KV cache.
#pragma once
#include <functional>
#include <vector>

#include "llm/llama.h"
#include "llm/sampling.h"

namespace userllm::llm {

struct GenerateOptions {
  int64_t max_new_tokens = 64;
  SamplingParams sampling;            // row r samples with seed sampling.seed + r
  std::vector<int64_t> stop_tokens;   // a row ends at one of these (not included in its output)
  int64_t max_length = 0;             // prompt + generated per row; 0 = the model's context
  bool use_cache = true;              // false recomputes every position each step (the slow baseline)
};

// Called for every generated token as soon as it is chosen (streaming output).
using TokenCallback = std::function<void(size_t row, int64_t token)>;

// The generated ids of each prompt (prompt ids excluded). Prompts must be non-empty.
std::vector<std::vector<int64_t>> generate(LlamaForCausalLM& model, const std::vector<std::vector<int64_t>>& prompts,
                                           const GenerateOptions& opts, const TokenCallback& on_token = {});

}  // namespace userllm::llm
