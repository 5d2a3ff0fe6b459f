#include "bridge/perceiver.h"

namespace userllm::bridge {

namespace {
torch::nn::LayerNorm layer_norm(int64_t dim) { return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})); }
}  // namespace

PerceiverBlockImpl::PerceiverBlockImpl(const PerceiverOptions& o) {
  norm_latents_ = register_module("norm_latents", layer_norm(o.dim()));
  norm_context_ = register_module("norm_context", layer_norm(o.context_dim()));
  norm_self_ = register_module("norm_self", layer_norm(o.dim()));
  cross_ = register_module("cross_attn", CrossAttention(CrossAttentionOptions(o.dim(), o.context_dim(), o.heads())));
  self_ = register_module("self_attn", CrossAttention(CrossAttentionOptions(o.dim(), o.dim(), o.heads())));
  ff_ = register_module("ff", FeedForward(o.dim(), o.ff_mult()));
}

torch::Tensor PerceiverBlockImpl::forward(const torch::Tensor& latents, const torch::Tensor& context,
                                          const torch::Tensor& context_mask) {
  auto x = latents + cross_(norm_latents_(latents), norm_context_(context), context_mask);
  auto n = norm_self_(x);
  x = x + self_(n, n);
  return x + ff_(x);
}

PerceiverImpl::PerceiverImpl(const PerceiverOptions& o) : o_(o) {
  latents_ = register_parameter("latents", torch::randn({o.latents(), o.dim()}) * 0.02);
  blocks_ = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.blocks(); ++i) blocks_->push_back(PerceiverBlock(o));
  norm_out_ = register_module("norm_out", layer_norm(o.dim()));
}

torch::Tensor PerceiverImpl::forward(const torch::Tensor& context, const torch::Tensor& context_mask) {
  auto x = latents_.unsqueeze(0).expand({context.size(0), -1, -1});
  for (auto& b : *blocks_) x = b->as<PerceiverBlock>()->forward(x, context, context_mask);
  return norm_out_(x);
}

}  // namespace userllm::bridge
