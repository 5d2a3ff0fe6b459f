#include "bridge/attention.h"

#include <cmath>

#include "common/error.h"

namespace userllm::bridge {

CrossAttentionImpl::CrossAttentionImpl(const CrossAttentionOptions& o) : o_(o) {
  if (o.heads() <= 0 || o.dim() % o.heads() != 0)
    fail("cross-attention: width " + std::to_string(o.dim()) + " is not divisible by " +
         std::to_string(o.heads()) + " heads");
  q_ = register_module("q_proj", torch::nn::Linear(torch::nn::LinearOptions(o.dim(), o.dim()).bias(false)));
  k_ = register_module("k_proj", torch::nn::Linear(torch::nn::LinearOptions(o.context_dim(), o.dim()).bias(false)));
  v_ = register_module("v_proj", torch::nn::Linear(torch::nn::LinearOptions(o.context_dim(), o.dim()).bias(false)));
  out_ = register_module("o_proj", torch::nn::Linear(torch::nn::LinearOptions(o.dim(), o.dim()).bias(false)));
}

torch::Tensor CrossAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& context,
                                          const torch::Tensor& context_mask) {
  return attend(x, key_value(context), context_mask);
}

CrossAttentionImpl::KeyValue CrossAttentionImpl::key_value(const torch::Tensor& context) {
  const int64_t B = context.size(0), S = context.size(1), H = o_.heads(), hd = o_.dim() / H;
  return {k_(context).view({B, S, H, hd}).transpose(1, 2), v_(context).view({B, S, H, hd}).transpose(1, 2)};
}

torch::Tensor CrossAttentionImpl::attend(const torch::Tensor& x, const KeyValue& kv,
                                         const torch::Tensor& context_mask) {
  const int64_t B = x.size(0), T = x.size(1), S = kv.k.size(2), H = o_.heads(), hd = o_.dim() / H;
  if (kv.k.size(0) != B) fail("cross-attention: " + std::to_string(B) + " query rows but a context of " +
                              std::to_string(kv.k.size(0)) + " rows");
  auto q = q_(x).view({B, T, H, hd}).transpose(1, 2);  // [B, H, T, hd]
  auto scores = torch::matmul(q, kv.k.transpose(-2, -1)) / std::sqrt(double(hd));  // [B, H, T, S]
  torch::Tensor any_real;
  if (context_mask.defined()) {
    auto m = context_mask.to(torch::kBool).reshape({B, 1, 1, S});
    // A finite fill keeps all-padding rows free of NaN; they are zeroed below.
    scores = scores.masked_fill(m.logical_not(), -1e9);
    any_real = context_mask.to(torch::kBool).any(1).reshape({B, 1, 1}).to(x.dtype());
  }
  auto y = torch::matmul(torch::softmax(scores, -1), kv.v).transpose(1, 2).reshape({B, T, o_.dim()});
  y = out_(y);
  return any_real.defined() ? y * any_real : y;
}

FeedForwardImpl::FeedForwardImpl(int64_t dim, int64_t mult) {
  norm_ = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
  fc1_ = register_module("fc1", torch::nn::Linear(dim, dim * mult));
  fc2_ = register_module("fc2", torch::nn::Linear(dim * mult, dim));
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x) { return fc2_(torch::gelu(fc1_(norm_(x)))); }

}  // namespace userllm::bridge
