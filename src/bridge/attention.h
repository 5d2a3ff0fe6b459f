// Multi-head attention of queries over a separate context (keys and values),
// with a context padding mask: the building block of the Perceiver and of the
// gated cross-attention. No positions: user embeddings already carry them.
#pragma once
#include <torch/nn.h>

namespace userllm::bridge {

struct CrossAttentionOptions {
  CrossAttentionOptions(int64_t dim, int64_t context_dim, int64_t heads)
      : dim_(dim), context_dim_(context_dim), heads_(heads) {}
  TORCH_ARG(int64_t, dim);          // query width (and output width)
  TORCH_ARG(int64_t, context_dim);  // key/value input width
  TORCH_ARG(int64_t, heads);
};

class CrossAttentionImpl : public torch::nn::Module {
 public:
  explicit CrossAttentionImpl(const CrossAttentionOptions& o);
  // x [B, T, dim], context [B, S, context_dim], context_mask [B, S] (true =
  // real) or undefined. A row whose context is all padding gets zeros.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context,
                        const torch::Tensor& context_mask = {});
  // The same in two halves, so a fixed context's keys and values are computed
  // once and reused by every query (each decoding step, every beam).
  struct KeyValue {
    torch::Tensor k, v;  // [B, heads, S, dim / heads]
  };
  KeyValue key_value(const torch::Tensor& context);
  torch::Tensor attend(const torch::Tensor& x, const KeyValue& kv, const torch::Tensor& context_mask);

 private:
  CrossAttentionOptions o_;
  torch::nn::Linear q_{nullptr}, k_{nullptr}, v_{nullptr}, out_{nullptr};
};
TORCH_MODULE(CrossAttention);

// Pre-norm feed-forward: Linear(dim, mult*dim) -> GELU -> Linear(mult*dim, dim).
class FeedForwardImpl : public torch::nn::Module {
 public:
  FeedForwardImpl(int64_t dim, int64_t mult);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::LayerNorm norm_{nullptr};
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
};
TORCH_MODULE(FeedForward);

}  // namespace userllm::bridge
