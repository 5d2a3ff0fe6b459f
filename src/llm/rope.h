// Rotary position embeddings in the Hugging Face "rotate_half" layout: the
// first half of each head's dimensions pairs with the second half. (llama2.c
// and Meta's checkpoints pair neighbours (2i, 2i+1) instead; their q/k weights
// are permuted on load, see llama2c_loader.cpp, so one layout serves both.)
// Frequencies follow transformers' modeling_rope_utils for each rope_scaling
// type; angles are computed per call, so no [context, head_dim] table is held
// (Llama 3.1's 128k context would make it 64 MiB).
#pragma once
#include <torch/nn.h>

#include "llm/llama_config.h"

namespace userllm::llm {

class RotaryEmbedding {
 public:
  // max_positions: the context (positions past it are refused); trained_positions:
  // config.json's max_position_embeddings, past which dynamic scaling starts.
  RotaryEmbedding(int64_t head_dim, double theta, const RopeScaling& scaling, int64_t max_positions,
                  int64_t trained_positions);
  // cos and sin for positions [B, T] (int64), shaped [B, 1, T, head_dim].
  std::pair<torch::Tensor, torch::Tensor> cos_sin(const torch::Tensor& positions, torch::Dtype dtype);
  int64_t max_positions() const { return max_positions_; }
  const torch::Tensor& inv_freq() const { return inv_freq_; }
  // The frequencies a forward whose largest position is `max_position` uses
  // (dynamic scaling grows the base past the trained context), float32 CPU
  // or on inv_freq's device, and the factor cos and sin are scaled by.
  torch::Tensor frequencies(int64_t max_position);
  double attention_scaling() const { return attention_scaling_; }

 private:
  int64_t head_dim_, max_positions_, trained_positions_;
  double theta_;
  RopeScaling scaling_;
  torch::Tensor inv_freq_;  // [head_dim / 2] float32, on the last device used
  double attention_scaling_ = 1.0;
};

// x * cos + rotate_half(x) * sin, with x [B, H, T, head_dim].
torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

}  // namespace userllm::llm
