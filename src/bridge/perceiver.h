// Perceiver resampler (Jaegle et al. 2021; as in Flamingo and User-LLM): K
// learned latent queries cross-attend to the L user embeddings through N
// blocks, so the LLM sees K vectors whatever L is.
#pragma once
#include <torch/nn.h>

#include "bridge/attention.h"

namespace userllm::bridge {

struct PerceiverOptions {
  PerceiverOptions(int64_t dim, int64_t context_dim, int64_t latents)
      : dim_(dim), context_dim_(context_dim), latents_(latents) {}
  TORCH_ARG(int64_t, dim);          // latent width
  TORCH_ARG(int64_t, context_dim);  // width of the user embeddings
  TORCH_ARG(int64_t, latents);      // K
  TORCH_ARG(int64_t, blocks) = 2;   // N
  TORCH_ARG(int64_t, heads) = 4;
  TORCH_ARG(int64_t, ff_mult) = 2;
};

// One block: latents attend to the context, then to each other, then a feed-forward;
// pre-norm with residuals.
class PerceiverBlockImpl : public torch::nn::Module {
 public:
  explicit PerceiverBlockImpl(const PerceiverOptions& o);
  torch::Tensor forward(const torch::Tensor& latents, const torch::Tensor& context, const torch::Tensor& context_mask);

 private:
  torch::nn::LayerNorm norm_latents_{nullptr}, norm_context_{nullptr}, norm_self_{nullptr};
  CrossAttention cross_{nullptr}, self_{nullptr};
  FeedForward ff_{nullptr};
};
TORCH_MODULE(PerceiverBlock);

class PerceiverImpl : public torch::nn::Module {
 public:
  explicit PerceiverImpl(const PerceiverOptions& o);
  // context [B, L, context_dim], context_mask [B, L] (true = real) or undefined -> [B, K, dim].
  torch::Tensor forward(const torch::Tensor& context, const torch::Tensor& context_mask = {});
  const PerceiverOptions& options() const { return o_; }

 private:
  PerceiverOptions o_;
  torch::Tensor latents_;
  torch::nn::ModuleList blocks_{nullptr};
  torch::nn::LayerNorm norm_out_{nullptr};
};
TORCH_MODULE(Perceiver);

}  // namespace userllm::bridge
