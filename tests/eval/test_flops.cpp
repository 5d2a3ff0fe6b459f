// FLOPs formulas against hand counts on a tiny configuration, and how each
// integration scales with the history.
#include <gtest/gtest.h>

#include "common/error.h"
#include "eval/flops.h"

using namespace userllm;

namespace {

// D = 4, 2 heads of 2, 1 kv head, FFN 6, vocab 10, 1 layer.
llm::LlamaConfig tiny() {
  llm::LlamaConfig c;
  c.hidden_size = 4;
  c.num_heads = 2;
  c.num_kv_heads = 1;
  c.intermediate_size = 6;
  c.vocab_size = 10;
  c.num_layers = 1;
  return c;
}

}  // namespace

TEST(Flops, LlmHandCount) {
  // Per token: q 2*4*4 + k,v 2*2*4*2 + o 2*4*4 = 96; MLP 3 * 2*4*6 = 144: 240.
  // Attention per query with c keys: 2*c*4 (scores) + 2*c*4 (values) = 16c. Logits: 2*4*10 = 80.
  auto c = tiny();
  EXPECT_EQ(eval::llm_prefill_flops(c, 3), 3 * 240 + 16 * (1 + 2 + 3) + 80);  // 896
  EXPECT_EQ(eval::llm_decode_flops(c, 3, 2), (240 + 16 * 4 + 80) + (240 + 16 * 5 + 80));  // 784
  EXPECT_EQ(eval::llm_forward_flops(c, 3, 2, 2), 2 * 240 + 16 * (4 + 5) + 2 * 80);
  c.num_layers = 2;  // everything but the output layer doubles
  EXPECT_EQ(eval::llm_prefill_flops(c, 3), 2 * (896 - 80) + 80);
}

// Qwen3 / Gemma: q and o are num_heads * head_dim wide, not hidden_size; sliding
// layers (Gemma 3, Mistral) attend to at most `sliding_window` keys.
TEST(Flops, LlmHeadDimAndSlidingWindow) {
  auto c = tiny();
  c.head_dim_override = 3;  // 2 heads of 3: q 2*4*6, k,v 2*3*4*2, o 2*6*4 = 144; MLP 144: 288
  // Attention per query with c keys: 4 * (2 * 3) * c = 24c.
  EXPECT_EQ(eval::llm_prefill_flops(c, 3), 3 * 288 + 24 * (1 + 2 + 3) + 80);
  c.head_dim_override = 0;
  c.model_type = "mistral";
  c.sliding_window = 2;  // keys seen by queries 1..5: 1, 2, 2, 2, 2
  EXPECT_EQ(eval::llm_prefill_flops(c, 5), 5 * 240 + 16 * (1 + 2 + 2 + 2 + 2) + 80);
  EXPECT_EQ(eval::llm_decode_flops(c, 5, 1), 240 + 16 * 2 + 80);
  c.num_layers = 2;
  c.sliding_layers = {true, false};  // Gemma-style: the second layer is global
  EXPECT_EQ(eval::llm_prefill_flops(c, 5), 2 * 5 * 240 + 16 * (1 + 2 + 2 + 2 + 2) + 16 * (1 + 2 + 3 + 4 + 5) + 80);
}

TEST(Flops, UserSideHandCount) {
  eval::EncoderShape e;
  e.layers = 1;
  e.dim = 2;
  e.ffn_mult = 2;
  e.stream_inputs = {3};
  // L = 2: input 2*2*3*2 = 24; per event 8*4 (q k v o) + 2*2*2*4 (FFN) = 64; attention 4*2*(1+2) = 24.
  EXPECT_EQ(eval::encoder_flops(e, 2), 24 + 2 * 64 + 24);
  e.stream_inputs = {1, 2};  // late fusion: two streams and a 2*2 -> 2 combine
  EXPECT_EQ(eval::encoder_flops(e, 2), (2 * 2 * 1 * 2 + 128 + 24) + (2 * 2 * 2 * 2 + 128 + 24) + 2 * 2 * 4 * 2);

  eval::PerceiverShape p;
  p.latents = 1;
  p.dim = 2;
  p.context_dim = 3;
  p.blocks = 1;
  p.ff_mult = 2;
  // cross: q,o 2*2*1*2*2 = 16; k,v 2*2*2*3*2 = 48; attention 4*1*2*2 = 16.
  // self: 8*1*4 = 32, attention 4*1*1*2 = 8. FFN: 2*2*1*2*4 = 32.
  EXPECT_EQ(eval::perceiver_flops(p, 2), 16 + 48 + 16 + 32 + 8 + 32);
  p.blocks = 3;
  EXPECT_EQ(eval::perceiver_flops(p, 2), 3 * 152);

  eval::ProjectorShape j;
  j.in_dim = 3;
  j.out_dim = 4;
  EXPECT_EQ(eval::projector_flops(j, 2), 2 * 2 * 3 * 4);
  j.mlp = true;
  j.hidden = 5;
  EXPECT_EQ(eval::projector_flops(j, 2), 2 * 2 * (3 * 5 + 5 * 4));

  eval::CrossAttentionShape x;
  x.blocks = 1;
  x.context_dim = 3;
  x.ff_mult = 2;
  // k,v once: 2*2*3*3*4 = 144. Per token: q,o 2*2*16 = 64; attention 4*3*4 = 48; FFN 2*2*4*8 = 128.
  EXPECT_EQ(eval::cross_attention_flops(tiny(), x, 2, 3), 144 + 2 * (64 + 48 + 128));
}

TEST(Flops, EncoderShapeFromOptions) {
  encoder::EncoderOptions o;
  o.fields = {{"item", 100, 8}, {"rating", 12, 4}};
  o.dim = 16;
  o.layers = 3;
  o.ffn_mult = 2;
  auto early = eval::EncoderShape::from_options(o);
  EXPECT_EQ(early.stream_inputs, (std::vector<int64_t>{12}));
  EXPECT_EQ(early.layers, 3);
  o.fusion = encoder::Fusion::kLate;
  EXPECT_EQ(eval::EncoderShape::from_options(o).stream_inputs, (std::vector<int64_t>{8, 4}));
}

namespace {
eval::UserLlmShape shape(bool perceiver) {
  eval::UserLlmShape s;
  s.llm = tiny();
  s.llm.num_layers = 2;
  s.encoder.dim = 8;
  s.encoder.stream_inputs = {8};
  s.use_perceiver = perceiver;
  s.perceiver.dim = 8;
  s.perceiver.context_dim = 8;
  s.perceiver.latents = 4;
  s.projector.in_dim = 8;
  s.projector.out_dim = 4;
  s.cross.blocks = 1;
  s.cross.context_dim = 4;
  return s;
}
eval::RequestShape request(int64_t L, int64_t history_tokens = 0) {
  eval::RequestShape r;
  r.prompt_tokens = 10;
  r.answer_tokens = 6;
  r.history_events = L;
  r.history_tokens = history_tokens;
  return r;
}
}  // namespace

TEST(Flops, TextPromptGrowsQuadraticallyWithHistoryTokens) {
  auto s = shape(false);
  auto f = [&](int64_t h) { return eval::request_flops(eval::Integration::kTextPrompt, s, request(0, h)).llm_prefill; };
  // Second difference of the prefill = the attention term's 4 * D * layers per extra key.
  int64_t d2 = f(102) - 2 * f(101) + f(100);
  EXPECT_EQ(d2, 4 * 4 * 2);
  EXPECT_EQ(f(120) - 2 * f(110) + f(100), 100 * d2);
  auto full = eval::request_flops(eval::Integration::kTextPrompt, s, request(0, 50));
  EXPECT_EQ(full.encoder + full.perceiver + full.projector + full.cross_attention, 0);
  EXPECT_GT(full.llm_decode, eval::llm_decode_flops(s.llm, 10, 6));  // decoding attends the history too
}

TEST(Flops, CrossAttentionLlmCostIndependentOfHistory) {
  auto s = shape(false);
  auto a = eval::request_flops(eval::Integration::kCrossAttention, s, request(10));
  auto b = eval::request_flops(eval::Integration::kCrossAttention, s, request(100));
  EXPECT_EQ(a.llm_prefill, b.llm_prefill);
  EXPECT_EQ(a.llm_decode, b.llm_decode);
  EXPECT_EQ(a.llm_prefill, eval::llm_prefill_flops(s.llm, 10));
  EXPECT_GT(b.cross_attention, a.cross_attention);
  auto c = eval::request_flops(eval::Integration::kCrossAttention, s, request(190));
  EXPECT_EQ(c.cross_attention - b.cross_attention, b.cross_attention - a.cross_attention);  // linear in L
  // With a Perceiver the LLM side sees K latents whatever L is.
  auto sp = shape(true);
  auto pa = eval::request_flops(eval::Integration::kCrossAttention, sp, request(10));
  auto pb = eval::request_flops(eval::Integration::kCrossAttention, sp, request(100));
  EXPECT_EQ(pa.cross_attention, pb.cross_attention);
  EXPECT_EQ(pa.projector, pb.projector);
  EXPECT_GT(pb.perceiver, pa.perceiver);
  EXPECT_GT(pb.encoder, pa.encoder);
  EXPECT_EQ(pa.total(), pa.encoder + pa.perceiver + pa.projector + pa.cross_attention + pa.llm_prefill + pa.llm_decode);
}

TEST(Flops, SoftPromptAddsPositions) {
  auto s = shape(false);
  auto a = eval::request_flops(eval::Integration::kSoftPrompt, s, request(20));
  EXPECT_EQ(a.llm_prefill, eval::llm_prefill_flops(s.llm, 30));
  EXPECT_EQ(a.llm_decode, eval::llm_decode_flops(s.llm, 30, 6));
  EXPECT_EQ(a.cross_attention, 0);
  EXPECT_EQ(a.projector, eval::projector_flops(s.projector, 20));
  auto sp = shape(true);
  auto p = eval::request_flops(eval::Integration::kSoftPrompt, sp, request(20));
  EXPECT_EQ(p.llm_prefill, eval::llm_prefill_flops(s.llm, 14));  // K = 4 latents
  EXPECT_EQ(p.projector, eval::projector_flops(s.projector, 4));
  EXPECT_THROW(eval::request_flops(eval::Integration::kSoftPrompt, s, request(-1)), Error);
}
