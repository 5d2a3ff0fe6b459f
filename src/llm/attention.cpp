#include "llm/llama.h"

#include <cmath>

namespace userllm::llm {

AttentionImpl::AttentionImpl(const LlamaConfig& c)
    : n_heads_(c.num_heads),
      n_kv_heads_(c.num_kv_heads),
      head_dim_(c.head_dim()),
      scale_(c.attention_scale()) {
  const int64_t D = c.hidden_size, q = c.num_heads * head_dim_, kv = c.num_kv_heads * head_dim_;
  q_proj = register_module("q_proj", Projection(D, q, c.qkv_bias));
  k_proj = register_module("k_proj", Projection(D, kv, c.qkv_bias));
  v_proj = register_module("v_proj", Projection(D, kv, c.qkv_bias));
  o_proj = register_module("o_proj", Projection(q, D, c.o_bias));
  if (c.qk_norm) {
    q_norm = register_module("q_norm", RMSNorm(head_dim_, c.rms_norm_eps, c.gemma()));
    k_norm = register_module("k_norm", RMSNorm(head_dim_, c.rms_norm_eps, c.gemma()));
  }
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                     const torch::Tensor& mask, torch::Tensor* k_cache, torch::Tensor* v_cache,
                                     int64_t cache_pos) {
  const int64_t B = x.size(0), T = x.size(1), G = n_heads_ / n_kv_heads_;
  auto q = q_proj(x).view({B, T, n_heads_, head_dim_});
  auto k = k_proj(x).view({B, T, n_kv_heads_, head_dim_});
  if (!q_norm.is_empty()) {  // per head, before the rotation
    q = q_norm(q);
    k = k_norm(k);
  }
  q = q.transpose(1, 2);
  k = k.transpose(1, 2);
  auto v = v_proj(x).view({B, T, n_kv_heads_, head_dim_}).transpose(1, 2);
  q = apply_rotary(q, cos, sin);
  k = apply_rotary(k, cos, sin);
  if (k_cache) {
    k_cache->narrow(2, cache_pos, T).copy_(k);
    v_cache->narrow(2, cache_pos, T).copy_(v);
    k = k_cache->narrow(2, 0, cache_pos + T);
    v = v_cache->narrow(2, 0, cache_pos + T);
  }
  const int64_t S = k.size(2);
  // Grouped-query attention without copying keys: query heads h = kv * G + g
  // share kv head `kv`, so fold the G query heads of a group into the time axis.
  auto qg = q.reshape({B, n_kv_heads_, G * T, head_dim_});
  auto scores = torch::matmul(qg, k.transpose(-1, -2)).mul_(scale_);
  if (mask.defined()) scores = (scores.view({B, n_heads_, T, S}) + mask).view({B, n_kv_heads_, G * T, S});
  auto probs = torch::softmax(scores, -1);
  auto out = torch::matmul(probs, v).view({B, n_heads_, T, head_dim_});
  return o_proj(out.transpose(1, 2).reshape({B, T, n_heads_ * head_dim_}));
}

}  // namespace userllm::llm
