// An LLM that has read a prompt, continued one token at a time for many rows
// at once. Constrained beam search and candidate scoring see only this
// interface, so the prompt may be plain token ids, soft-prompt embeddings, or
// ids with a cross-attention context the caller has set on the model.
#pragma once
#include <torch/nn.h>

#include <functional>
#include <vector>

#include "llm/kv_cache.h"
#include "llm/llama.h"

namespace userllm::eval {

class PrefixModel {
 public:
  virtual ~PrefixModel() = default;
  virtual int64_t vocab_size() const = 0;
  // Log-probabilities [vocab] of the first token after the prompt.
  virtual torch::Tensor first_logprobs() = 0;
  // Starts over from the prompt: the next step()'s rows all extend it (parents must be 0).
  virtual void reset() = 0;
  // One decoding step. Row i of the new batch extends row parents[i] of the
  // previous step's batch (of the prompt on the first step after reset())
  // with tokens[i]; returns log-probabilities [rows, vocab] of the next token.
  virtual torch::Tensor step(const std::vector<int64_t>& parents, const std::vector<int64_t>& tokens) = 0;
  // Teacher-forced sum of log-probabilities of each sequence after the prompt
  // (all of its tokens, EOS included). The default runs step() token by token;
  // LlamaPrefix scores a batch of sequences in one forward pass.
  virtual std::vector<double> score(const std::vector<std::vector<int64_t>>& seqs);
};

// Called with the number of rows before every forward pass over R rows, so a
// caller using cross-attention can set a context of R rows (the user's
// context expanded: every row belongs to the same user).
using RowsHook = std::function<void(int64_t rows)>;

// A LlamaForCausalLM after prefilling one prompt into its KV cache (batch 1).
// Later steps copy the prompt's cache rows per beam / candidate: the prompt
// is read once.
class LlamaPrefix : public PrefixModel {
 public:
  // ids: the prompt token ids. `extra` = how many tokens may follow it.
  static LlamaPrefix from_ids(llm::LlamaForCausalLM model, const std::vector<int64_t>& ids, int64_t extra,
                              RowsHook hook = {});
  // embeds [1, P, D] (e.g. pack_soft_prompt() output) with key_mask [1, P]
  // (1 = real; undefined = all real).
  static LlamaPrefix from_embeddings(llm::LlamaForCausalLM model, const torch::Tensor& embeds,
                                     const torch::Tensor& key_mask, int64_t extra, RowsHook hook = {});

  int64_t vocab_size() const override;
  torch::Tensor first_logprobs() override { return first_; }
  void reset() override { rows_ = 0; }
  torch::Tensor step(const std::vector<int64_t>& parents, const std::vector<int64_t>& tokens) override;
  std::vector<double> score(const std::vector<std::vector<int64_t>>& seqs) override;

  int64_t max_batch = 32;  // sequences per forward pass in score()

 private:
  LlamaPrefix(llm::LlamaForCausalLM model, llm::KVCache cache, torch::Tensor mask, RowsHook hook);
  // The prompt's cache and mask, repeated `rows` times (fresh tensors).
  llm::KVCache expand_prompt(int64_t rows) const;

  llm::LlamaForCausalLM model_;
  llm::KVCache prompt_;   // batch 1, length P
  torch::Tensor mask_;    // [1, P] long
  torch::Tensor first_;   // [vocab]
  RowsHook hook_;
  llm::KVCache work_;     // the rows of the last step()
  torch::Tensor work_mask_;
  int64_t rows_ = 0;      // 0: next step extends the prompt
};

}  // namespace userllm::eval
