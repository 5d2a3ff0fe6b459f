// Analytic FLOPs per request for each part of User-LLM and each way of
// giving the LLM the user's history (docs/tasks.md has every formula). A
// multiply-add counts as 2 FLOPs; norms, softmax, activations and rotary
// embeddings (O(width) per vector) are not counted.
#pragma once
#include <cstdint>
#include <vector>

#include "encoder/encoder_options.h"
#include "llm/llama_config.h"

namespace userllm::eval {

// Causal Transformer user encoder: one stream per fused input (early fusion:
// one stream over the concatenated field embeddings; late fusion: one per
// field plus a combining layer).
struct EncoderShape {
  int64_t layers = 2, dim = 64, ffn_mult = 4;
  std::vector<int64_t> stream_inputs{64};  // input width of each stream
  static EncoderShape from_options(const encoder::EncoderOptions& o);
};
struct PerceiverShape {
  int64_t dim = 64, context_dim = 64, latents = 16, blocks = 2, ff_mult = 2;
};
struct ProjectorShape {
  int64_t in_dim = 64, out_dim = 64;
  bool mlp = false;
  int64_t hidden = 0;  // 0 = out_dim
};
struct CrossAttentionShape {
  int64_t blocks = 0;       // gated blocks inserted in the LLM
  int64_t context_dim = 0;  // width of the context vectors
  int64_t ff_mult = 2;
};

// Each part separately.
int64_t encoder_flops(const EncoderShape& s, int64_t events);
int64_t perceiver_flops(const PerceiverShape& s, int64_t inputs);
int64_t projector_flops(const ProjectorShape& s, int64_t vectors);
// One LLM forward pass of `tokens` new positions after `past` cached ones
// (causal: new token t attends past + t keys), with `logit_rows` rows through the output layer.
int64_t llm_forward_flops(const llm::LlamaConfig& c, int64_t past, int64_t tokens, int64_t logit_rows);
// Prefill of P positions: one pass, logits of the last position only.
int64_t llm_prefill_flops(const llm::LlamaConfig& c, int64_t prompt);
// D single-token passes after P cached positions, pass j (1..D) attending P + j keys, each with logits.
int64_t llm_decode_flops(const llm::LlamaConfig& c, int64_t prompt, int64_t decode);
// Gated cross-attention blocks (LLM width = c.hidden_size) for `tokens` LLM
// tokens against S context vectors; keys and values of the context are
// counted once per request and block.
int64_t cross_attention_flops(const llm::LlamaConfig& c, const CrossAttentionShape& x, int64_t tokens, int64_t context);

enum class Integration { kTextPrompt, kSoftPrompt, kCrossAttention };

struct UserLlmShape {
  llm::LlamaConfig llm;
  EncoderShape encoder;
  bool use_perceiver = false;
  PerceiverShape perceiver;
  ProjectorShape projector;   // maps the vectors the LLM sees (L, or K latents) to their width
  CrossAttentionShape cross;  // for kCrossAttention
};

struct RequestShape {
  int64_t prompt_tokens = 0;   // P: BOS + instruction
  int64_t answer_tokens = 0;   // D decoded tokens
  int64_t history_events = 0;  // L
  int64_t history_tokens = 0;  // the history written as text (text prompt only)
};

struct FlopsBreakdown {
  int64_t encoder = 0, perceiver = 0, projector = 0, cross_attention = 0, llm_prefill = 0, llm_decode = 0;
  int64_t total() const { return encoder + perceiver + projector + cross_attention + llm_prefill + llm_decode; }
};

// Text prompt: the LLM alone, prefilling P + history tokens. Soft prompt:
// encoder, optional Perceiver, projector, and L (or K) extra LLM positions.
// Cross-attention: the same user side, no extra positions, plus the gated
// blocks over every prefilled and decoded token.
FlopsBreakdown request_flops(Integration integration, const UserLlmShape& shape, const RequestShape& request);

}  // namespace userllm::eval
