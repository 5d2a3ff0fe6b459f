#include "llm/rope.h"

#include <cmath>

#include "common/error.h"

namespace userllm::llm {
namespace {
using Type = RopeScaling::Type;

// theta^(-2i/d) in float32, as transformers and llama2.c's run.c compute it.
torch::Tensor default_inv_freq(int64_t dim, double theta) {
  auto idx = torch::arange(0, dim, 2, torch::kFloat32);
  return 1.0 / torch::pow(torch::tensor(float(theta)), idx / float(dim));
}

// _compute_llama3_parameters: long wavelengths slowed by `factor`, short ones
// kept, the band between blended.
torch::Tensor llama3_inv_freq(torch::Tensor inv_freq, const RopeScaling& s) {
  const double old_ctx = double(s.original_max_positions);
  const double low_wavelen = old_ctx / s.low_freq_factor, high_wavelen = old_ctx / s.high_freq_factor;
  auto wavelen = 2 * M_PI / inv_freq;
  auto scaled = torch::where(wavelen > low_wavelen, inv_freq / s.factor, inv_freq);
  auto smooth = (old_ctx / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
  auto smoothed = (1 - smooth) * scaled / s.factor + smooth * scaled;
  auto medium = (wavelen < high_wavelen).logical_not().logical_and((wavelen > low_wavelen).logical_not());
  return torch::where(medium, smoothed, scaled);
}

double yarn_mscale(double scale, double mscale) { return scale <= 1 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0; }

// _compute_yarn_parameters (Peng et al. 2023): interpolate low frequencies,
// extrapolate high ones, a linear ramp between; cos/sin scaled by the attention factor.
torch::Tensor yarn_inv_freq(int64_t dim, double base, const RopeScaling& s, int64_t max_pos, double* attention) {
  const double orig = double(s.original_max_positions > 0 ? s.original_max_positions : max_pos);
  if (s.attention_factor > 0)
    *attention = s.attention_factor;
  else if (s.mscale > 0 && s.mscale_all_dim > 0)
    *attention = yarn_mscale(s.factor, s.mscale) / yarn_mscale(s.factor, s.mscale_all_dim);
  else
    *attention = yarn_mscale(s.factor, 1.0);
  auto correction_dim = [&](double rotations) {
    return (double(dim) * std::log(orig / (rotations * 2 * M_PI))) / (2 * std::log(base));
  };
  double low = correction_dim(s.beta_fast), high = correction_dim(s.beta_slow);
  if (s.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, double(dim - 1));
  if (low == high) high += 0.001;
  auto ramp = ((torch::arange(dim / 2, torch::kFloat32) - low) / (high - low)).clamp(0, 1);
  auto extrapolation_factor = 1 - ramp;
  auto pos_freqs = torch::pow(torch::tensor(float(base)), torch::arange(0, dim, 2, torch::kFloat32) / float(dim));
  auto extrapolation = 1.0 / pos_freqs, interpolation = 1.0 / (s.factor * pos_freqs);
  return interpolation * (1 - extrapolation_factor) + extrapolation * extrapolation_factor;
}

}  // namespace

RotaryEmbedding::RotaryEmbedding(int64_t head_dim, double theta, const RopeScaling& scaling, int64_t max_positions,
                                 int64_t trained_positions)
    : head_dim_(head_dim),
      max_positions_(max_positions),
      trained_positions_(trained_positions),
      theta_(theta),
      scaling_(scaling) {
  switch (scaling.type) {
    case Type::kDefault:
    case Type::kDynamic:  // equals the default until the context passes trained_positions
      inv_freq_ = default_inv_freq(head_dim, theta);
      break;
    case Type::kLinear:
      inv_freq_ = default_inv_freq(head_dim, theta) / scaling.factor;
      break;
    case Type::kLlama3:
      inv_freq_ = llama3_inv_freq(default_inv_freq(head_dim, theta), scaling);
      break;
    case Type::kYarn:
      inv_freq_ = yarn_inv_freq(head_dim, theta, scaling, trained_positions, &attention_scaling_);
      break;
  }
}

torch::Tensor RotaryEmbedding::frequencies(int64_t max_position) {
  // dynamic NTK (transformers' dynamic_rope_update): past max_position_embeddings
  // the base grows with the longest position of this forward. Keys already cached
  // keep the frequencies they were rotated with, exactly as there.
  const double seq_len = double(max_position + 1);
  if (scaling_.type != Type::kDynamic || seq_len <= double(trained_positions_)) return inv_freq_;
  const double d = double(head_dim_);
  const double base =
      theta_ * std::pow(scaling_.factor * seq_len / double(trained_positions_) - (scaling_.factor - 1), d / (d - 2));
  return default_inv_freq(head_dim_, base).to(inv_freq_.device());
}

std::pair<torch::Tensor, torch::Tensor> RotaryEmbedding::cos_sin(const torch::Tensor& positions, torch::Dtype dtype) {
  int64_t hi = 0;
  if (positions.numel() > 0) {
    int64_t lo = positions.min().item<int64_t>();
    hi = positions.max().item<int64_t>();
    if (lo < 0 || hi >= max_positions_)
      fail("position " + std::to_string(lo < 0 ? lo : hi) + " is outside the model's context of " +
           std::to_string(max_positions_) + " positions");
  }
  if (inv_freq_.device() != positions.device()) inv_freq_ = inv_freq_.to(positions.device());
  auto inv_freq = frequencies(hi);
  // [B, T, hd/2] angles in float32, then duplicated for the two halves.
  auto angles = positions.to(torch::kFloat32).unsqueeze(-1) * inv_freq;
  auto emb = torch::cat({angles, angles}, -1).unsqueeze(1);
  auto cos = emb.cos(), sin = emb.sin();
  if (attention_scaling_ != 1.0) {
    cos = cos * attention_scaling_;
    sin = sin * attention_scaling_;
  }
  return {cos.to(dtype), sin.to(dtype)};
}

torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  auto x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  return x * cos + torch::cat({-x2, x1}, -1) * sin;
}

}  // namespace userllm::llm
