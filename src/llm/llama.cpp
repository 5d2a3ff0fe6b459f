#include "llm/llama.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>

#include "common/error.h"

namespace userllm::llm {

RMSNormImpl::RMSNormImpl(int64_t dim, double eps, bool plus_one) : eps_(eps), plus_one_(plus_one) {
  weight = register_parameter("weight", plus_one ? torch::zeros({dim}) : torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  auto xf = x.to(torch::kFloat32);
  auto normed = xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps_);
  // Gemma scales in float32 before casting back; Llama casts, then scales.
  if (plus_one_) return (normed * (1.0 + weight.to(torch::kFloat32))).to(x.scalar_type());
  return weight * normed.to(x.scalar_type());
}

MLPImpl::MLPImpl(const LlamaConfig& c) : gelu_(c.gemma()) {
  gate_proj = register_module("gate_proj", Projection(c.hidden_size, c.intermediate_size, false));
  up_proj = register_module("up_proj", Projection(c.hidden_size, c.intermediate_size, false));
  down_proj = register_module("down_proj", Projection(c.intermediate_size, c.hidden_size, false));
}

torch::Tensor MLPImpl::forward(const torch::Tensor& x) {
  auto gate = gate_proj(x);
  return down_proj((gelu_ ? torch::gelu(gate, "tanh") : torch::silu(gate)) * up_proj(x));
}

DecoderLayerImpl::DecoderLayerImpl(const LlamaConfig& c) {
  const bool g = c.gemma();
  self_attn = register_module("self_attn", Attention(c));
  mlp = register_module("mlp", MLP(c));
  input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps, g));
  post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps, g));
  if (g) {
    pre_feedforward_layernorm = register_module("pre_feedforward_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps, g));
    post_feedforward_layernorm =
        register_module("post_feedforward_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps, g));
  }
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                        const torch::Tensor& mask, torch::Tensor* k_cache, torch::Tensor* v_cache,
                                        int64_t cache_pos) {
  auto attn = self_attn(input_layernorm(x), cos, sin, mask, k_cache, v_cache, cache_pos);
  if (pre_feedforward_layernorm.is_empty()) {
    auto h = x + attn;
    return h + mlp(post_attention_layernorm(h));
  }
  auto h = x + post_attention_layernorm(attn);
  return h + post_feedforward_layernorm(mlp(pre_feedforward_layernorm(h)));
}

LlamaModelImpl::LlamaModelImpl(const LlamaConfig& c) {
  torch::nn::EmbeddingOptions eo(c.vocab_size, c.hidden_size);
  if (UninitializedGuard::active()) eo._weight(torch::empty({c.vocab_size, c.hidden_size}));
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(eo));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_layers; ++i) {
    layer_list.push_back(DecoderLayer(c));
    layers->push_back(layer_list.back());
  }
  norm = register_module("norm", RMSNorm(c.hidden_size, c.rms_norm_eps, c.gemma()));
}

LlamaForCausalLMImpl::LlamaForCausalLMImpl(const LlamaConfig& c)
    : config_(c),
      rope_(c.head_dim(), c.rope_theta, c.rope_scaling, c.context_length(), c.max_position_embeddings),
      rope_local_(c.head_dim(), c.rope_local_theta, RopeScaling{}, c.context_length(), c.max_position_embeddings) {
  c.validate("model config");
  model = register_module("model", LlamaModel(c));
  if (!c.tie_word_embeddings) lm_head = register_module("lm_head", Projection(c.hidden_size, c.vocab_size, false));
}

torch::Device LlamaForCausalLMImpl::device() const { return model->embed_tokens->weight.device(); }

torch::Tensor LlamaForCausalLMImpl::embed(const torch::Tensor& ids) {
  if (ids.numel() > 0) {
    int64_t lo = 0, hi = 0;
    if (ids.device().is_cpu() && ids.scalar_type() == torch::kLong && ids.is_contiguous()) {  // no tensor ops per step
      const int64_t* p = ids.data_ptr<int64_t>();
      lo = hi = p[0];
      for (int64_t i = 1; i < ids.numel(); ++i) lo = std::min(lo, p[i]), hi = std::max(hi, p[i]);
    } else {
      lo = ids.min().item<int64_t>();
      hi = ids.max().item<int64_t>();
    }
    if (lo < 0 || hi >= config_.vocab_size)
      fail("token id " + std::to_string(lo < 0 ? lo : hi) + " is outside the vocabulary of " +
           std::to_string(config_.vocab_size));
  }
  auto e = tied_head_.defined() ? tied_head_.rows_at(ids) : model->embed_tokens(ids);
  // Gemma3TextScaledWordEmbedding: the scale is rounded to the weights' dtype first.
  if (config_.gemma())
    e = e * torch::tensor(std::sqrt(double(config_.hidden_size)), e.options()).to(e.scalar_type());
  return e;
}

// Empty once the weights are packed (pack_weights frees the float copies).
torch::Tensor LlamaForCausalLMImpl::output_weight() {
  return lm_head.is_empty() ? model->embed_tokens->weight : lm_head->weight;
}

torch::Tensor LlamaForCausalLMImpl::logits(const torch::Tensor& hidden) {
  torch::Tensor out;
  if (tied_head_.defined()) out = tied_head_.matmul(hidden);
  else out = lm_head.is_empty() ? gemv_or_linear(hidden, model->embed_tokens->weight) : lm_head(hidden);
  if (const double cap = config_.final_logit_softcapping; cap > 0) out = torch::tanh(out / cap) * cap;
  return out;
}

void LlamaForCausalLMImpl::pack_weights(WeightFormat format) {
  if (format == WeightFormat::kF32) return;
  TORCH_CHECK(weight_format_ == WeightFormat::kF32, "weights are already packed");
  if (device() != torch::kCPU || model->embed_tokens->weight.scalar_type() != torch::kFloat32)
    fail(std::string("--weights ") + llm::name(format) + " needs a float32 model on the CPU");
  for (auto& layer : model->layer_list) {
    auto& a = layer->self_attn;
    for (auto* p : {&a->q_proj, &a->k_proj, &a->v_proj, &a->o_proj}) (*p)->pack(format);
    for (auto* p : {&layer->mlp->gate_proj, &layer->mlp->up_proj, &layer->mlp->down_proj}) (*p)->pack(format);
  }
  if (!lm_head.is_empty()) {
    lm_head->pack(format);
  } else {
    tied_head_ = PackedWeight(model->embed_tokens->weight, format);
    model->embed_tokens->weight.set_data(torch::empty({0}, model->embed_tokens->weight.options()));
  }
  weight_format_ = format;
}

torch::Tensor LlamaForCausalLMImpl::forward(const torch::Tensor& ids, KVCache* cache, const torch::Tensor& positions,
                                            const torch::Tensor& key_mask) {
  return logits(hidden_states(embed(ids), cache, positions, key_mask));
}

torch::Tensor LlamaForCausalLMImpl::forward_embeddings(const torch::Tensor& embeds, KVCache* cache,
                                                       const torch::Tensor& positions,
                                                       const torch::Tensor& key_mask) {
  return logits(hidden_states(embeds, cache, positions, key_mask));
}

torch::Tensor LlamaForCausalLMImpl::hidden_states(const torch::Tensor& embeds, KVCache* cache,
                                                  const torch::Tensor& positions_in, const torch::Tensor& key_mask) {
  TORCH_CHECK(embeds.dim() == 3 && embeds.size(2) == config_.hidden_size, "embeddings must be [B, T, hidden_size]");
  const int64_t B = embeds.size(0), T = embeds.size(1);
  const int64_t past = cache ? cache->length : 0, S = past + T;
  if (cache) {
    if (cache->batch() != B) fail("KV cache batch " + std::to_string(cache->batch()) + " != input batch " + std::to_string(B));
    if (S > cache->capacity())
      fail("KV cache full: " + std::to_string(S) + " positions > capacity " + std::to_string(cache->capacity()));
  }
  const auto dev = embeds.device();
  torch::Tensor positions = positions_in;
  if (!positions.defined())
    positions = torch::arange(past, S, torch::TensorOptions().dtype(torch::kLong).device(dev)).unsqueeze(0).expand({B, T});
  if (positions.size(0) != B || positions.size(1) != T) fail("positions must be [B, T]");
  if (key_mask.defined() && (key_mask.size(0) != B || key_mask.size(1) != S))
    fail("key_mask must be [B, past + T] = [" + std::to_string(B) + ", " + std::to_string(S) + "]");
  if (decode_step_applies(embeds, cache)) return decode_step(embeds.contiguous(), *cache, positions, key_mask);

  // Additive masks: causal over slots, plus pad keys, plus (for sliding layers)
  // keys at most `window` slots back. With left padding a row's real tokens
  // are contiguous, so slot distance is position distance. A finite minimum
  // (not -inf) keeps fully masked pad rows finite instead of NaN.
  auto opts = torch::TensorOptions().device(dev);
  auto build_mask = [&](int64_t window) {
    auto q_slot = torch::arange(past, S, opts.dtype(torch::kLong)).view({T, 1});
    auto k_slot = torch::arange(0, S, opts.dtype(torch::kLong)).view({1, S});
    auto allowed = (k_slot <= q_slot).view({1, 1, T, S});
    if (window > 0) allowed = allowed.logical_and((q_slot - k_slot < window).view({1, 1, T, S}));
    if (key_mask.defined()) allowed = allowed.logical_and(key_mask.to(torch::kBool).view({B, 1, 1, S}));
    const double lowest = std::numeric_limits<float>::lowest();
    return torch::zeros(allowed.sizes(), opts.dtype(embeds.scalar_type())).masked_fill_(allowed.logical_not(), lowest);
  };
  torch::Tensor mask, sliding_mask;
  bool any_global = false, any_sliding = false;
  for (int64_t i = 0; i < config_.num_layers; ++i) (config_.layer_slides(i) ? any_sliding : any_global) = true;
  if (any_global && (T > 1 || key_mask.defined())) mask = build_mask(0);
  if (any_sliding && (T > 1 || key_mask.defined() || S > config_.sliding_window))
    sliding_mask = build_mask(config_.sliding_window);
  auto [cos, sin] = rope_.cos_sin(positions, embeds.scalar_type());
  torch::Tensor cos_local, sin_local;
  if (config_.gemma() && any_sliding) std::tie(cos_local, sin_local) = rope_local_.cos_sin(positions, embeds.scalar_type());
  auto h = embeds;
  for (int64_t i = 0; i < config_.num_layers; ++i) {
    torch::Tensor* kc = cache ? &cache->k[i] : nullptr;
    torch::Tensor* vc = cache ? &cache->v[i] : nullptr;
    const bool slides = config_.layer_slides(i), local_rope = slides && config_.gemma();
    h = model->layer_list[i]->forward(h, local_rope ? cos_local : cos, local_rope ? sin_local : sin,
                                      slides ? sliding_mask : mask, kc, vc, past);
    if (hook_) h = hook_(i, h);
  }
  if (cache) cache->length = S;
  return model->norm(h);
}

torch::Tensor make_positions(const torch::Tensor& key_mask, int64_t T) {
  auto pos = key_mask.to(torch::kLong).cumsum(1) - 1;
  return pos.narrow(1, pos.size(1) - T, T).clamp_min(0);
}

}  // namespace userllm::llm
