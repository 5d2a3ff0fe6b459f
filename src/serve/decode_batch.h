// Continuous batching's data structure: up to max_rows sequences decoding in
// lockstep over one preallocated KV cache. A sequence is prefilled alone and
// then copied into a free row at the batch's current slot, right-aligned, so
// the batch stays left-padded (llm/llama.h) and every row's newest token sits
// in the same slot; a finished row is replaced by the last one, keeping rows
// 0..n-1 dense. Every row attends over all slots in use, so once the padding
// the rows all share is as long as what they use (or the slots run out),
// every row is shifted left by it. Each row has its own positions, key mask and, for
// cross-attention, its own user's keys and values.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "bridge/gated_cross_attention.h"
#include "llm/kv_cache.h"
#include "llm/llama.h"

namespace userllm::serve {

struct DecodeBatchOptions {
  int64_t max_rows = 16;
  int64_t capacity = 0;        // slots; 0 = twice the model's context (below the context, a row
                               // that fills every slot fails)
  int64_t context_vectors = 0; // cross-attention: the most user vectors a row may have (S)
};

// What one sequence reads before its first generated token.
struct Prefill {
  torch::Tensor ids;       // [1, P] long; or undefined when embeds is given
  torch::Tensor embeds;    // [1, P, D] (soft prompt packed before the tokens)
  torch::Tensor key_mask;  // [1, P] long, 1 = real; undefined = all real
  torch::Tensor context, context_mask;  // cross-attention: [1, S, D], [1, S] bool; undefined = none
};

class DecodeBatch {
 public:
  DecodeBatch(llm::LlamaForCausalLM model, bridge::CrossAttentionStack cross, const DecodeBatchOptions& o);

  // Prefills p alone, adds it as row rows() - 1 and returns the logits of its next token [vocab].
  // The caller checks full() first.
  torch::Tensor add(const Prefill& p);
  // Several at once, prefilled together in one left-padded forward pass (each row is masked
  // from the others' padding); they become the last ps.size() rows, in order. Returns each
  // one's next-token logits.
  std::vector<torch::Tensor> add_many(const std::vector<Prefill>& ps);
  // One token per row (tokens[i] extends row i): the logits of each row's next token [rows, vocab].
  torch::Tensor step(const std::vector<int64_t>& tokens);
  // Drops row i; the last row takes its place (the caller moves its bookkeeping the same way).
  void remove(int64_t i);

  int64_t rows() const { return n_; }
  bool full() const { return n_ == o_.max_rows; }
  // Positions row i has read (its prompt and the tokens fed since).
  int64_t length(int64_t i) const { return real_[size_t(i)]; }
  int64_t context_length() const { return model_->config().context_length(); }

 private:
  void shift(int64_t by);  // moves every row's slots by `by` (negative: left)
  void install_context();  // the rows' user keys and values onto the cross-attention blocks

  llm::LlamaForCausalLM model_;
  bridge::CrossAttentionStack cross_;
  DecodeBatchOptions o_;
  llm::KVCache cache_;               // [max_rows, kv_heads, capacity, head_dim] per layer
  torch::Tensor key_mask_;           // [max_rows, capacity] long
  std::vector<torch::Tensor> ck_, cv_;  // cross-attention per block: [max_rows, heads, S, hd]
  torch::Tensor context_mask_;       // [max_rows, S] bool
  std::vector<int64_t> real_;        // per row: real positions so far (the next position id)
  std::vector<int64_t> start_;       // per row: first slot in use
  int64_t n_ = 0, len_ = 0;          // rows, slots in use
};

}  // namespace userllm::serve
