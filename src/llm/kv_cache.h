// Keys and values of past positions, preallocated per layer for the whole
// generation so decoding never reallocates. Rows of a batch share slot
// indices; with left padding the pad slots are masked by the caller's key mask.
#pragma once
#include <torch/nn.h>

#include "llm/llama_config.h"

namespace userllm::llm {

struct KVCache {
  KVCache() = default;  // empty; a caller may fill k and v with views of a larger buffer
  KVCache(const LlamaConfig& config, int64_t batch, int64_t capacity, torch::Device device,
          torch::Dtype dtype = torch::kFloat32);
  std::vector<torch::Tensor> k, v;  // per layer [B, n_kv_heads, capacity, head_dim]
  int64_t length = 0;               // slots filled so far
  int64_t capacity() const { return k.empty() ? 0 : k[0].size(2); }
  int64_t batch() const { return k.empty() ? 0 : k[0].size(0); }
  void clear() { length = 0; }
};

}  // namespace userllm::llm
