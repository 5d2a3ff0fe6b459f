#include "bridge/gated_cross_attention.h"

#include "common/error.h"
#include "llm/llama.h"

namespace userllm::bridge {

GatedCrossAttentionBlockImpl::GatedCrossAttentionBlockImpl(const GatedCrossAttentionOptions& o) {
  norm_ = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim()})));
  attn_ = register_module("cross_attn", CrossAttention(CrossAttentionOptions(o.dim(), o.context_dim(), o.heads())));
  ff_ = register_module("ff", FeedForward(o.dim(), o.ff_mult()));
  attn_gate = register_parameter("attn_gate", torch::zeros({1}));
  ff_gate = register_parameter("ff_gate", torch::zeros({1}));
}

torch::Tensor GatedCrossAttentionBlockImpl::forward(const torch::Tensor& h, const torch::Tensor& context,
                                                    const torch::Tensor& context_mask) {
  return forward(h, key_value(context), context_mask);
}

torch::Tensor GatedCrossAttentionBlockImpl::forward(const torch::Tensor& h, const CrossAttentionImpl::KeyValue& kv,
                                                    const torch::Tensor& context_mask) {
  auto x = h + torch::tanh(attn_gate) * attn_->attend(norm_(h), kv, context_mask);
  return x + torch::tanh(ff_gate) * ff_(x);
}

CrossAttentionStackImpl::CrossAttentionStackImpl(const GatedCrossAttentionOptions& o, std::vector<int64_t> layers)
    : o_(o), layers_(std::move(layers)) {
  blocks_ = register_module("blocks", torch::nn::ModuleList());
  for (size_t i = 0; i < layers_.size(); ++i) {
    int64_t l = layers_[i];
    if (l < 0) fail("cross-attention layer index " + std::to_string(l) + " is negative");
    if (size_t(l) >= block_of_layer_.size()) block_of_layer_.resize(l + 1, -1);
    if (block_of_layer_[l] >= 0) fail("cross-attention layer " + std::to_string(l) + " is listed twice");
    block_of_layer_[l] = int64_t(i);
    blocks_->push_back(GatedCrossAttentionBlock(o));
  }
}

void CrossAttentionStackImpl::attach(llm::LlamaForCausalLMImpl& model) {
  int64_t n = model.config().num_layers;
  for (int64_t l : layers_)
    if (l >= n)
      fail("cross-attention after layer " + std::to_string(l) + ", but the LLM has " + std::to_string(n) + " layers");
  model.set_layer_hook([this](int64_t layer, const torch::Tensor& hidden) { return apply(layer, hidden); });
}

void CrossAttentionStackImpl::set_context(torch::Tensor context, torch::Tensor context_mask) {
  context_ = std::move(context);
  context_mask_ = std::move(context_mask);
  kv_.assign(blocks_->size(), {});
  rows_ = 0;
}

void CrossAttentionStackImpl::expand_context(int64_t rows) {
  if (!context_.defined()) fail("cross-attention: expand_context() before set_context()");
  if (context_.size(0) != 1 && rows != context_.size(0))
    fail("cross-attention: only a one-row context can be expanded, this one has " +
         std::to_string(context_.size(0)) + " rows");
  if (rows <= 0) fail("cross-attention: expand_context() needs at least one row");
  rows_ = rows;
}

std::vector<CrossAttentionImpl::KeyValue> CrossAttentionStackImpl::key_values(const torch::Tensor& context) {
  std::vector<CrossAttentionImpl::KeyValue> out;
  for (size_t b = 0; b < blocks_->size(); ++b) out.push_back((*blocks_)[b]->as<GatedCrossAttentionBlock>()->key_value(context));
  return out;
}

void CrossAttentionStackImpl::set_key_values(std::vector<CrossAttentionImpl::KeyValue> kv, torch::Tensor context_mask) {
  if (kv.size() != blocks_->size())
    fail("cross-attention: " + std::to_string(kv.size()) + " key/value sets for " + std::to_string(blocks_->size()) +
         " blocks");
  context_ = torch::Tensor();
  context_mask_ = std::move(context_mask);
  kv_ = std::move(kv);
  rows_ = 0;
}

torch::Tensor CrossAttentionStackImpl::apply(int64_t layer, const torch::Tensor& hidden) {
  if (layer < 0 || size_t(layer) >= block_of_layer_.size() || block_of_layer_[layer] < 0) return hidden;
  const int64_t b = block_of_layer_[layer];
  auto* block = (*blocks_)[b]->as<GatedCrossAttentionBlock>();
  if (kv_.empty() || (!kv_[b].k.defined() && !context_.defined()))
    fail("cross-attention: no user context was set before the forward pass");
  if (!kv_[b].k.defined()) kv_[b] = block->key_value(context_);
  if (rows_ == 0 || rows_ == kv_[b].k.size(0)) return block->forward(hidden, kv_[b], context_mask_);
  CrossAttentionImpl::KeyValue kv{kv_[b].k.expand({rows_, -1, -1, -1}), kv_[b].v.expand({rows_, -1, -1, -1})};
  torch::Tensor mask = context_mask_.defined() ? context_mask_.expand({rows_, -1}) : context_mask_;
  return block->forward(hidden, kv, mask);
}

std::vector<int64_t> every_kth_layer(int64_t n_layers, int64_t k) {
  if (k <= 0) fail("cross-attention: every k-th layer needs k >= 1, got " + std::to_string(k));
  std::vector<int64_t> out;
  for (int64_t l = k - 1; l < n_layers; l += k) out.push_back(l);
  return out;
}

}  // namespace userllm::bridge
