// The ~100M-parameter Llama the benches measure (GPT-2-small-sized: 12 x 768,
// 12 heads with 4 key/value heads, vocab 32000, tied embeddings).
#pragma once
#include <cstdint>

#include "llm/llama_config.h"

namespace userllm::bench {

inline llm::LlamaConfig llm_100m_config(int64_t context) {
  llm::LlamaConfig c;
  c.vocab_size = 32000;
  c.hidden_size = 768;
  c.intermediate_size = 2048;
  c.num_layers = 12;
  c.num_heads = 12;
  c.num_kv_heads = 4;
  c.max_position_embeddings = context;
  c.tie_word_embeddings = true;
  return c;
}

}  // namespace userllm::bench
