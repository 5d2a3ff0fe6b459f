// One request to a User-LLM at batch 1, as evaluation and latency see it: the
// user's vectors from their history, then the LLM after reading them and the
// prompt (a PrefixModel for beam search, candidate scoring and greedy decoding).
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "bridge/user_llm.h"
#include "encoder/events.h"
#include "eval/prefix_model.h"
#include "tasks/batch.h"

namespace userllm::eval {

// What the LLM reads of the user: context [1, S, D] and mask [1, S] (undefined
// for the text integration, whose history is in the prompt ids).
struct UserSide {
  torch::Tensor context, mask;
  int64_t events = 0;  // encoder rows actually read (L)
};
// ev must be the dataset's events unless the integration is text. No grad.
UserSide user_side(bridge::UserLlm& model, const encoder::Events* ev, const tasks::EncodedExample& e);

// Positions the LLM prefills: the prompt ids, plus the soft prompt's vectors.
int64_t prefill_positions(bridge::UserLlm& model, const tasks::EncodedExample& e, const UserSide& u);

// The LLM after reading the prompt, with room for `extra` more tokens. For
// cross-attention this sets the user's context on the model; every later
// forward over R rows (beams, candidates) reuses it expanded to R rows.
LlamaPrefix read_prompt(bridge::UserLlm& model, const tasks::EncodedExample& e, const UserSide& u, int64_t extra);

// Greedy decoding through the step interface: the argmax after the prompt,
// then one step() per token fed back, at most max_new tokens. Stops before
// `eos` (not included) unless eos < 0, which always makes max_new tokens (a
// fixed amount of work, for timing).
std::vector<int64_t> greedy_decode(PrefixModel& p, int64_t max_new, int64_t eos);

}  // namespace userllm::eval
