// From task examples to model inputs, the same way for training and
// evaluation: the prompt each integration gives the LLM (the text prompt
// writes the history into it, cut to the context budget), the answer with its
// loss mask, and the history as encoder rows; then padded tensor batches.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "data/dataset.h"
#include "encoder/events.h"
#include "llm/tokenizer.h"
#include "tasks/task.h"

namespace userllm::tasks {

struct PromptOptions {
  bool text_history = false;  // the text-prompt baseline: the history goes into the prompt
  int64_t context = 512;      // LLM positions available for prompt + answer (+ soft-prompt vectors)
  int64_t user_vectors = 0;   // soft prompt: positions the user's vectors take (K or L)
  int64_t answer_reserve = 32;  // positions kept free for the answer when budgeting the history text
};

struct EncodedExample {
  std::vector<int64_t> prompt;   // BOS + [history text] + instruction
  std::vector<int64_t> answer;   // answer ids + EOS, cut to fit the context
  uint64_t history_begin = 0, history_end = 0;  // events the encoder reads
  int64_t history_text_tokens = 0;  // tokens of the rendered history (text prompt)
  int64_t history_text_events = 0;  // events that fit in it
};

// The text prompt reads "The user's history: <events>\n<instruction>"; the
// other integrations get the instruction alone (the user arrives as vectors).
// Throws userllm::Error when the instruction alone leaves no room for an answer token.
EncodedExample encode_example(const data::Dataset& ds, const llm::Tokenizer& tok, const Example& ex,
                              const PromptOptions& opts);
// The same for a request whose history is given as event lines (tasks/text_history.h),
// read only by the text prompt; history_begin/end are left 0.
EncodedExample encode_request(const llm::Tokenizer& tok, const std::string& instruction, const std::string& answer,
                              const std::vector<std::string>& history_lines, const PromptOptions& opts);

struct Batch {
  torch::Tensor history;   // [B, L, F] long, right-padded encoder rows; undefined for the text prompt
  torch::Tensor valid;     // [B, L] bool
  torch::Tensor ids;       // [B, T] long, LEFT-padded prompt + answer (pad id 0)
  torch::Tensor key_mask;  // [B, T] long, 1 = real
  torch::Tensor loss_mask; // [B, T] float, 1 where ids[b, t] is an answer token
};

// history: include the encoder rows (ev must then be the dataset's events).
// Tensors are created on `device`.
Batch collate(const std::vector<EncodedExample>& examples, const encoder::Events* ev, const torch::Device& device);

// The encoder rows of events [begin, end) as [1, L, F] with valid [1, L]: one
// request at evaluation time.
std::pair<torch::Tensor, torch::Tensor> history_rows(const encoder::Events& ev, uint64_t begin, uint64_t end,
                                                     const torch::Device& device);

}  // namespace userllm::tasks
