// A causal pre-norm Transformer with learned positions, a padding mask, and an
// incremental path that appends one event using cached keys and values.
//
// Long histories: attention is limited to the last `max_len` events (a sliding
// window) and the position id is min(t, max_len - 1). The full forward and the
// cached step both follow this rule, so they agree exactly at any length, and
// one appended event costs O(max_len) whatever the history length.
#pragma once
#include <torch/nn.h>

#include <vector>

namespace userllm::encoder {

struct TransformerOptions {
  int dim = 64, heads = 2, layers = 2, ffn_mult = 4, max_len = 50;
  double dropout = 0.1;
};

// Cached keys and values of one Transformer, one [B, heads, t, head_dim] pair per
// layer, holding at most max_len events; `length` counts every event seen.
struct KVCache {
  std::vector<torch::Tensor> k, v;
  int64_t length = 0;
};

class CausalSelfAttentionImpl : public torch::nn::Module {
 public:
  CausalSelfAttentionImpl(int dim, int heads, double dropout);
  // x [B, T, D], valid [B, T] bool: causal attention over the last `window`
  // events, never to a padding key. Long inputs go in query blocks of `window`
  // against only the keys they can see: O(T * window), not a T x T matrix.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& valid, int64_t window);
  // x [B, 1, D]: appends this event's key/value to (k, v), trimmed to `window`.
  torch::Tensor step(const torch::Tensor& x, torch::Tensor& k, torch::Tensor& v, int64_t window);

 private:
  torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                       const torch::Tensor& allowed);
  int heads_;
  torch::nn::Linear qkv_{nullptr}, out_{nullptr};
  torch::nn::Dropout drop_{nullptr};
};
TORCH_MODULE(CausalSelfAttention);

class BlockImpl : public torch::nn::Module {
 public:
  BlockImpl(const TransformerOptions& o);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& valid, int64_t window);
  torch::Tensor step(const torch::Tensor& x, torch::Tensor& k, torch::Tensor& v, int64_t window);

 private:
  torch::Tensor mlp(const torch::Tensor& x);
  torch::nn::LayerNorm ln1_{nullptr}, ln2_{nullptr};
  CausalSelfAttention attn_{nullptr};
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
  torch::nn::Dropout drop_{nullptr};
};
TORCH_MODULE(Block);

class CausalTransformerImpl : public torch::nn::Module {
 public:
  explicit CausalTransformerImpl(const TransformerOptions& o);
  // x [B, T, D] right-padded, valid [B, T] bool. Returns [B, T, D].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& valid);
  // x [B, D]: the next event of every row (all rows at the same length). Returns [B, D].
  torch::Tensor step(const torch::Tensor& x, KVCache& cache);
  const TransformerOptions& options() const { return o_; }

 private:
  torch::Tensor positions(int64_t begin, int64_t count, const torch::Device& device);
  TransformerOptions o_;
  torch::nn::Embedding pos_{nullptr};
  torch::nn::ModuleList blocks_;
  torch::nn::LayerNorm ln_f_{nullptr};
  torch::nn::Dropout drop_{nullptr};
};
TORCH_MODULE(CausalTransformer);

}  // namespace userllm::encoder
