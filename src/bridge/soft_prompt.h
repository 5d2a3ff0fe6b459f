// Soft prompt: user embeddings (projected, or a Perceiver's latents) placed
// before the prompt's token embeddings. The LLM takes LEFT-padded batches
// (llm/llama.h), so each row is packed as [pads | prefix | tokens] with the
// key mask and positions to match.
#pragma once
#include <torch/types.h>

namespace userllm::bridge {

struct PackedInput {
  torch::Tensor embeds;     // [B, P + T, D]
  torch::Tensor key_mask;   // [B, P + T] long, 1 = real
  torch::Tensor positions;  // [B, P + T] long, 0 at each row's first real entry
};

// prefix [B, P, D] with prefix_mask [B, P] (true = real; undefined = all real),
// tokens [B, T, D] with token_mask [B, T] (undefined = all real). Padding
// anywhere in either part is moved to the left of the row, order kept.
PackedInput pack_soft_prompt(const torch::Tensor& prefix, const torch::Tensor& prefix_mask,
                             const torch::Tensor& tokens, const torch::Tensor& token_mask);

}  // namespace userllm::bridge
