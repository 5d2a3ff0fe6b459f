// A decoder of the Llama family tree (Llama 1/2/3.x, Mistral, Qwen2/2.5, Qwen3,
// Gemma 3 text, llama2.c models): RMSNorm, rotary embeddings (with rope_scaling),
// grouped-query attention with optional q/k/v bias, q/k norms and sliding
// windows, a gated MLP (SwiGLU, or GeGLU for Gemma), tied or separate output
// embedding. Gemma 3 adds (1 + w) norms, scaled embeddings and a norm after
// attention and after the MLP. Parameter names are the Hugging Face ones
// (model.layers.N.self_attn.q_proj.weight, ...), so a safetensors file maps onto
// named_parameters() one to one.
//
// Padded batches are LEFT-padded: the last column is every row's newest token,
// so a batch decodes in lockstep. Pass `key_mask` [B, past + T] (1 = real
// token, 0 = pad) and `positions` [B, T] counting real tokens only
// (make_positions() below); pad queries produce finite garbage that is ignored.
#pragma once
#include <torch/nn.h>

#include <functional>

#include "llm/kv_cache.h"
#include "llm/llama_config.h"
#include "llm/projection.h"
#include "llm/rope.h"

namespace userllm::llm {

class RMSNormImpl : public torch::nn::Module {
 public:
  // plus_one: Gemma's x_hat * (1 + w), its weight starting at 0; else x_hat * w.
  RMSNormImpl(int64_t dim, double eps, bool plus_one = false);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;

 private:
  double eps_;
  bool plus_one_;
};
TORCH_MODULE(RMSNorm);

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const LlamaConfig& c);
  // x [B, T, D]; cos/sin [B, 1, T, hd]; mask additive [B, 1, T, S] or undefined
  // (no masking); the cache, if any, receives this step's keys/values at
  // slots [cache_pos, cache_pos + T) and attention covers slots [0, cache_pos + T).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& mask, torch::Tensor* k_cache, torch::Tensor* v_cache,
                        int64_t cache_pos);
  Projection q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  RMSNorm q_norm{nullptr}, k_norm{nullptr};  // Qwen3, Gemma 3

 private:
  int64_t n_heads_, n_kv_heads_, head_dim_;
  double scale_;
};
TORCH_MODULE(Attention);

class MLPImpl : public torch::nn::Module {
 public:
  explicit MLPImpl(const LlamaConfig& c);
  torch::Tensor forward(const torch::Tensor& x);  // down(act(gate(x)) * up(x)), act silu or tanh-GELU
  Projection gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};

 private:
  bool gelu_;
};
TORCH_MODULE(MLP);

class DecoderLayerImpl : public torch::nn::Module {
 public:
  explicit DecoderLayerImpl(const LlamaConfig& c);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& mask, torch::Tensor* k_cache, torch::Tensor* v_cache,
                        int64_t cache_pos);
  // Llama: post_attention_layernorm is the norm before the MLP. Gemma 3: it
  // normalises the attention output, and pre/post_feedforward_layernorm wrap the MLP.
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  RMSNorm pre_feedforward_layernorm{nullptr}, post_feedforward_layernorm{nullptr};
  Attention self_attn{nullptr};
  MLP mlp{nullptr};
};
TORCH_MODULE(DecoderLayer);

// Called after decoder layer `layer` with its output; returns the hidden state
// the next layer sees. This is where the bridge's cross-attention blocks go.
// In a one-token decode step `hidden` views a buffer that is reused after the
// call: a hook must not keep it.
using LayerHook = std::function<torch::Tensor(int64_t layer, const torch::Tensor& hidden)>;

class LlamaModelImpl : public torch::nn::Module {
 public:
  explicit LlamaModelImpl(const LlamaConfig& c);
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
  std::vector<DecoderLayer> layer_list;  // typed views of `layers`
};
TORCH_MODULE(LlamaModel);

class LlamaForCausalLMImpl : public torch::nn::Module {
 public:
  explicit LlamaForCausalLMImpl(const LlamaConfig& c);
  const LlamaConfig& config() const { return config_; }

  // ids [B, T] int64 -> logits [B, T, vocab]. Optional cache, positions, key_mask as above;
  // positions default to past + 0..T-1 and key_mask to "everything is real".
  torch::Tensor forward(const torch::Tensor& ids, KVCache* cache = nullptr, const torch::Tensor& positions = {},
                        const torch::Tensor& key_mask = {});
  // The same from input embeddings [B, T, D] (soft prompts, user embeddings).
  torch::Tensor forward_embeddings(const torch::Tensor& embeds, KVCache* cache = nullptr,
                                   const torch::Tensor& positions = {}, const torch::Tensor& key_mask = {});
  // Final normalised hidden states [B, T, D], before the output projection.
  torch::Tensor hidden_states(const torch::Tensor& embeds, KVCache* cache = nullptr,
                              const torch::Tensor& positions = {}, const torch::Tensor& key_mask = {});
  torch::Tensor embed(const torch::Tensor& ids);       // token ids (range-checked) -> [B, T, D], Gemma's scale included
  torch::Tensor logits(const torch::Tensor& hidden);  // [.., D] -> [.., vocab], softcapped where the config says
  torch::Tensor output_weight();                     // lm_head.weight, or the embedding when tied

  // Inference only: every projection, and the output head, to `format`
  // (llm/packed_weight.h). A tied head is packed once and also serves the
  // embedding lookup, so the float embedding is freed too.
  void pack_weights(WeightFormat format);
  WeightFormat weight_format() const { return weight_format_; }
  int64_t packed_head_bytes() const { return tied_head_.bytes(); }

  void set_layer_hook(LayerHook hook) { hook_ = std::move(hook); }
  // A one-token step with a float32 CPU cache runs as plain loops
  // (llm/decode_step.cpp) unless this is off: the tensor path is the reference.
  void set_fast_decode(bool on) { fast_decode_ = on; }
  torch::Device device() const;

  LlamaModel model{nullptr};
  Projection lm_head{nullptr};  // null when tie_word_embeddings

 private:
  LlamaConfig config_;
  RotaryEmbedding rope_, rope_local_;  // rope_local_: Gemma 3's sliding layers
  LayerHook hook_;
  bool fast_decode_ = true;
  bool decode_step_applies(const torch::Tensor& embeds, const KVCache* cache);
  torch::Tensor decode_step(const torch::Tensor& embeds, KVCache& cache, const torch::Tensor& positions,
                            const torch::Tensor& key_mask);
  WeightFormat weight_format_ = WeightFormat::kF32;
  PackedWeight tied_head_;  // the packed embedding, when tied and packed
};
TORCH_MODULE(LlamaForCausalLM);

// Positions [B, T] for a left-padded batch: 0 at each row's first real token.
// key_mask [B, S] (1 = real); returns the positions of its last T columns,
// offset by the real tokens before them.
torch::Tensor make_positions(const torch::Tensor& key_mask, int64_t T);

}  // namespace userllm::llm
