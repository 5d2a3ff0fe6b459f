#include "llm/kv_cache.h"

namespace userllm::llm {

KVCache::KVCache(const LlamaConfig& c, int64_t batch, int64_t capacity, torch::Device device, torch::Dtype dtype) {
  auto opts = torch::TensorOptions().device(device).dtype(dtype);
  for (int64_t i = 0; i < c.num_layers; ++i) {
    k.push_back(torch::zeros({batch, c.num_kv_heads, capacity, c.head_dim()}, opts));
    v.push_back(torch::zeros({batch, c.num_kv_heads, capacity, c.head_dim()}, opts));
  }
}

}  // namespace userllm::llm
