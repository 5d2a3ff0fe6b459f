// Flamingo-style gated cross-attention (Alayrac et al. 2022), as User-LLM uses
// it: blocks inserted after chosen LLM layers, queries from the LLM's hidden
// states, keys and values from the user embeddings (projected, or a
// Perceiver's latents). Each residual branch is scaled by tanh(gate) with the
// gate initialised at zero, so an untrained block leaves the LLM unchanged.
#pragma once
#include <torch/nn.h>

#include <vector>

#include "bridge/attention.h"

namespace userllm::llm {
class LlamaForCausalLMImpl;
}

namespace userllm::bridge {

struct GatedCrossAttentionOptions {
  GatedCrossAttentionOptions(int64_t dim, int64_t context_dim, int64_t heads)
      : dim_(dim), context_dim_(context_dim), heads_(heads) {}
  TORCH_ARG(int64_t, dim);
  TORCH_ARG(int64_t, context_dim);
  TORCH_ARG(int64_t, heads);
  TORCH_ARG(int64_t, ff_mult) = 2;
};

class GatedCrossAttentionBlockImpl : public torch::nn::Module {
 public:
  explicit GatedCrossAttentionBlockImpl(const GatedCrossAttentionOptions& o);
  // h [B, T, dim]; context [B, S, context_dim]; context_mask [B, S] or undefined.
  torch::Tensor forward(const torch::Tensor& h, const torch::Tensor& context, const torch::Tensor& context_mask);
  // With the context's keys and values computed beforehand (key_value()).
  torch::Tensor forward(const torch::Tensor& h, const CrossAttentionImpl::KeyValue& kv,
                        const torch::Tensor& context_mask);
  CrossAttentionImpl::KeyValue key_value(const torch::Tensor& context) { return attn_->key_value(context); }
  torch::Tensor attn_gate, ff_gate;

 private:
  torch::nn::LayerNorm norm_{nullptr};
  CrossAttention attn_{nullptr};
  FeedForward ff_{nullptr};
};
TORCH_MODULE(GatedCrossAttentionBlock);

// The blocks of one LLM, and which decoder layer each follows.
class CrossAttentionStackImpl : public torch::nn::Module {
 public:
  // layers: the decoder layers (0-based) after which a block runs.
  CrossAttentionStackImpl(const GatedCrossAttentionOptions& o, std::vector<int64_t> layers);
  // Installs the blocks as the model's layer hook; the context is read at each
  // forward from set_context(). The model must outlive neither this stack nor its hook.
  void attach(llm::LlamaForCausalLMImpl& model);
  // Each block projects the context to keys and values once, at its first
  // use after set_context(); every later forward (decoding steps) reuses them.
  void set_context(torch::Tensor context, torch::Tensor context_mask = {});
  // Serves a context of one row to `rows` query rows (beams, candidates)
  // without recomputing its keys and values. Lasts until the next set_context().
  void expand_context(int64_t rows);
  // Each block's keys and values of a context [B, S, context_dim], for set_key_values().
  std::vector<CrossAttentionImpl::KeyValue> key_values(const torch::Tensor& context);
  // Installs keys and values computed beforehand (one [B, heads, S, head_dim]
  // pair per block) with their mask [B, S]: rows of different users decoding
  // together (the server's continuous batching). Lasts until the next set_*().
  void set_key_values(std::vector<CrossAttentionImpl::KeyValue> kv, torch::Tensor context_mask);
  torch::Tensor apply(int64_t layer, const torch::Tensor& hidden);
  const std::vector<int64_t>& layers() const { return layers_; }
  const GatedCrossAttentionOptions& options() const { return o_; }

 private:
  GatedCrossAttentionOptions o_;
  std::vector<int64_t> layers_;
  std::vector<int64_t> block_of_layer_;  // -1 where no block follows
  torch::nn::ModuleList blocks_{nullptr};
  torch::Tensor context_, context_mask_;
  std::vector<CrossAttentionImpl::KeyValue> kv_;  // per block; undefined until first used
  int64_t rows_ = 0;                              // rows served (expand_context), 0 = the context's own
};
TORCH_MODULE(CrossAttentionStack);

// Every k-th layer of n: k-1, 2k-1, ... (k = 1 means every layer).
std::vector<int64_t> every_kth_layer(int64_t n_layers, int64_t k);

}  // namespace userllm::bridge
