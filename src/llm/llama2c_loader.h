// llama2.c checkpoints (github.com/karpathy/llama2.c):
//  - legacy (version 0): 7 int32 (dim, hidden_dim, n_layers, n_heads,
//    n_kv_heads, vocab_size, seq_len; a negative vocab_size means a separate
//    classifier), then float32 weights in run.c's order;
//  - version 1 ("ak42" magic, 256-byte header, float32);
//  - version 2 ("ak42", Q8_0: int8 weights with one float32 scale per group).
// Their q/k weights pair rotary dimensions (2i, 2i+1); we permute them into the
// Hugging Face rotate_half layout on load, so the model code has one layout.
#pragma once
#include <filesystem>

#include "llm/llama.h"

namespace userllm::llm {

LlamaForCausalLM load_llama2c(const std::filesystem::path& path);

// Meta/llama2.c interleaved rows -> Hugging Face rotate_half rows, for a
// q or k weight [n_heads * head_dim, in]. (The inverse of llama2.c export's permute_reverse.)
torch::Tensor permute_rotary_rows(const torch::Tensor& w, int64_t n_heads);

}  // namespace userllm::llm
