#include "llm/rope.h"

#include "common/error.h"

namespace userllm::llm {

RotaryEmbedding::RotaryEmbedding(int64_t head_dim, double theta, int64_t max_positions)
    : head_dim_(head_dim), max_positions_(max_positions) {
  // Angles in float32 as llama2.c's run.c computes them, so its checkpoints
  // reproduce its logits closely.
  auto idx = torch::arange(0, head_dim, 2, torch::kFloat32);
  auto inv_freq = 1.0 / torch::pow(torch::tensor(float(theta)), idx / float(head_dim));
  auto pos = torch::arange(max_positions, torch::kFloat32);
  auto angles = torch::outer(pos, inv_freq);  // [P, hd/2]
  auto emb = torch::cat({angles, angles}, -1);
  cos_ = emb.cos();
  sin_ = emb.sin();
}

std::pair<torch::Tensor, torch::Tensor> RotaryEmbedding::cos_sin(const torch::Tensor& positions, torch::Dtype dtype) {
  if (positions.numel() > 0) {
    int64_t lo = positions.min().item<int64_t>(), hi = positions.max().item<int64_t>();
    if (lo < 0 || hi >= max_positions_)
      fail("position " + std::to_string(lo < 0 ? lo : hi) + " is outside the model's context of " +
           std::to_string(max_positions_) + " positions");
  }
  if (cos_.device() != positions.device()) {
    cos_ = cos_.to(positions.device());
    sin_ = sin_.to(positions.device());
  }
  auto flat = positions.reshape({-1});
  auto shape = std::vector<int64_t>{positions.size(0), 1, positions.size(1), head_dim_};
  return {cos_.index_select(0, flat).view(shape).to(dtype), sin_.index_select(0, flat).view(shape).to(dtype)};
}

torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  auto x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  return x * cos + torch::cat({-x2, x1}, -1) * sin;
}

}  // namespace userllm::llm
