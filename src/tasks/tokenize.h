// Prompt + answer token ids for training and scoring: the loss covers the
// answer tokens and the closing EOS only.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "llm/tokenizer.h"

namespace userllm::tasks {

// The answer as the LLM must produce it: encode(text) without BOS, then EOS.
// Titles in the constrained-decoding trie use the same ids, so training and
// decoding agree token for token.
std::vector<int64_t> answer_ids(const llm::Tokenizer& tok, std::string_view text);

struct TokenizedExample {
  std::vector<int64_t> ids;        // prompt ids (with BOS) then answer ids (with EOS)
  std::vector<uint8_t> loss_mask;  // 1 where ids[i] is an answer token (predicted from position i - 1)
  int64_t prompt_len = 0;
  bool truncated = false;          // the answer was cut to fit max_len (it then has no EOS)
};

// max_len > 0 cuts the answer's tail to fit; a prompt that alone leaves no
// room for one answer token throws userllm::Error.
TokenizedExample tokenize_example(const llm::Tokenizer& tok, std::string_view prompt, std::string_view answer,
                                  int64_t max_len = 0);

}  // namespace userllm::tasks
