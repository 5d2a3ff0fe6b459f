// Rotary position embeddings in the Hugging Face "rotate_half" layout: the
// first half of each head's dimensions pairs with the second half. (llama2.c
// and Meta's checkpoints pair neighbours (2i, 2i+1) instead; their q/k weights
// are permuted on load, see llama2c_loader.cpp, so one layout serves both.)
#pragma once
#include <torch/nn.h>

namespace userllm::llm {

class RotaryEmbedding {
 public:
  RotaryEmbedding(int64_t head_dim, double theta, int64_t max_positions);
  // cos and sin for positions [B, T] (int64), shaped [B, 1, T, head_dim].
  std::pair<torch::Tensor, torch::Tensor> cos_sin(const torch::Tensor& positions, torch::Dtype dtype);
  int64_t max_positions() const { return max_positions_; }

 private:
  int64_t head_dim_, max_positions_;
  torch::Tensor cos_, sin_;  // [max_positions, head_dim], float32, on the last device used
};

// x * cos + rotate_half(x) * sin, with x [B, H, T, head_dim].
torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

}  // namespace userllm::llm
