// Small random Llama models for the llm tests.
#pragma once
#include "llm/llama.h"

namespace userllm::test {

// GQA (4 query heads over 2 kv heads), q/k/v bias (Qwen2 style), untied output: every option exercised.
inline llm::LlamaConfig tiny_config(bool tied = false) {
  llm::LlamaConfig c;
  c.vocab_size = 23;
  c.hidden_size = 16;
  c.intermediate_size = 24;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.max_position_embeddings = 64;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 500.0;
  c.model_type = "qwen2";
  c.qkv_bias = true;
  c.tie_word_embeddings = tied;
  return c;
}

// A model whose every parameter (norm weights and biases too) is random.
inline llm::LlamaForCausalLM random_model(const llm::LlamaConfig& c, uint64_t seed = 1) {
  torch::manual_seed(seed);
  llm::LlamaForCausalLM m(c);
  torch::NoGradGuard g;
  for (auto& p : m->parameters()) p.copy_(torch::randn(p.sizes()) * 0.5);
  m->eval();
  return m;
}

}  // namespace userllm::test
