#include "eval/flops.h"

#include <algorithm>

#include "common/error.h"

namespace userllm::eval {

EncoderShape EncoderShape::from_options(const encoder::EncoderOptions& o) {
  EncoderShape s;
  s.layers = o.layers;
  s.dim = o.dim;
  s.ffn_mult = o.ffn_mult;
  s.stream_inputs.clear();
  int64_t concat = 0;
  for (const auto& f : o.fields) {
    concat += f.dim;
    if (o.fusion == encoder::Fusion::kLate) s.stream_inputs.push_back(f.dim);
  }
  if (o.fusion == encoder::Fusion::kEarly) s.stream_inputs.push_back(concat);
  return s;
}

// Sum over t = 1..T of (past + t): the keys causal queries see.
static int64_t causal_keys(int64_t past, int64_t T) { return T * past + T * (T + 1) / 2; }

int64_t encoder_flops(const EncoderShape& s, int64_t L) {
  const int64_t d = s.dim;
  int64_t per_layer_token = 2 * 4 * d * d + 2 * 2 * d * (s.ffn_mult * d);  // q k v o, two FFN matrices
  int64_t total = 0;
  for (int64_t in : s.stream_inputs) total += 2 * L * in * d + s.layers * (L * per_layer_token + 4 * d * causal_keys(0, L));
  const int64_t F = int64_t(s.stream_inputs.size());
  if (F > 1) total += 2 * L * (F * d) * d;  // late fusion's combining layer
  return total;
}

int64_t perceiver_flops(const PerceiverShape& s, int64_t L) {
  const int64_t K = s.latents, d = s.dim, c = s.context_dim;
  int64_t cross = 2 * K * d * d * 2 + 2 * 2 * L * c * d + 4 * K * L * d;  // q, o; k, v; scores and values
  int64_t self = 2 * 4 * K * d * d + 4 * K * K * d;
  int64_t ff = 2 * 2 * K * d * (s.ff_mult * d);
  return s.blocks * (cross + self + ff);
}

int64_t projector_flops(const ProjectorShape& s, int64_t n) {
  if (!s.mlp) return 2 * n * s.in_dim * s.out_dim;
  int64_t h = s.hidden ? s.hidden : s.out_dim;
  return 2 * n * (s.in_dim * h + h * s.out_dim);
}

// Keys seen by the queries at positions past+1..past+T when each sees at most `window` (0 = all).
static int64_t windowed_keys(int64_t past, int64_t T, int64_t window) {
  if (window <= 0 || past + T <= window) return causal_keys(past, T);
  const int64_t ramp = std::max<int64_t>(0, std::min(T, window - past));  // queries still under the window
  return causal_keys(past, ramp) + (T - ramp) * window;
}

// Matrix products only, as everywhere here: norms (Qwen3's and Gemma's q/k norms
// and Gemma's extra two per layer), activations and rotations are elementwise
// and under 1% of a layer.
int64_t llm_forward_flops(const llm::LlamaConfig& c, int64_t past, int64_t T, int64_t logit_rows) {
  const int64_t D = c.hidden_size, hd = c.head_dim(), q = c.num_heads * hd, kv = c.num_kv_heads * hd;
  const int64_t F = c.intermediate_size;
  int64_t dense = 2 * (D * q + 2 * D * kv + q * D) + 2 * 3 * D * F;  // q, k, v, o; gate, up, down
  int64_t total = logit_rows * 2 * D * c.vocab_size;
  for (int64_t i = 0; i < c.num_layers; ++i)
    total += T * dense + 4 * q * windowed_keys(past, T, c.layer_slides(i) ? c.sliding_window : 0);
  return total;
}

int64_t llm_prefill_flops(const llm::LlamaConfig& c, int64_t P) { return P > 0 ? llm_forward_flops(c, 0, P, 1) : 0; }

int64_t llm_decode_flops(const llm::LlamaConfig& c, int64_t P, int64_t Dn) {
  int64_t total = 0;
  for (int64_t j = 0; j < Dn; ++j) total += llm_forward_flops(c, P + j, 1, 1);
  return total;
}

int64_t cross_attention_flops(const llm::LlamaConfig& c, const CrossAttentionShape& x, int64_t T, int64_t S) {
  const int64_t D = c.hidden_size;
  int64_t kv = 2 * 2 * S * x.context_dim * D;
  int64_t per_token = 2 * 2 * D * D + 4 * S * D + 2 * 2 * D * (x.ff_mult * D);  // q, o; attention; FFN
  return x.blocks * (kv + T * per_token);
}

FlopsBreakdown request_flops(Integration integration, const UserLlmShape& s, const RequestShape& r) {
  if (r.prompt_tokens < 1 || r.answer_tokens < 0 || r.history_events < 0 || r.history_tokens < 0)
    fail("request shape: the prompt needs a token and no count may be negative");
  FlopsBreakdown f;
  const int64_t P = r.prompt_tokens, A = r.answer_tokens;
  if (integration == Integration::kTextPrompt) {
    f.llm_prefill = llm_prefill_flops(s.llm, P + r.history_tokens);
    f.llm_decode = llm_decode_flops(s.llm, P + r.history_tokens, A);
    return f;
  }
  const int64_t L = r.history_events;
  const int64_t S = s.use_perceiver ? s.perceiver.latents : L;  // vectors the LLM sees
  f.encoder = encoder_flops(s.encoder, L);
  if (s.use_perceiver) f.perceiver = perceiver_flops(s.perceiver, L);
  f.projector = projector_flops(s.projector, S);
  if (integration == Integration::kSoftPrompt) {
    f.llm_prefill = llm_prefill_flops(s.llm, S + P);
    f.llm_decode = llm_decode_flops(s.llm, S + P, A);
  } else {
    f.llm_prefill = llm_prefill_flops(s.llm, P);
    f.llm_decode = llm_decode_flops(s.llm, P, A);
    f.cross_attention = cross_attention_flops(s.llm, s.cross, P + A, S);
  }
  return f;
}

}  // namespace userllm::eval
