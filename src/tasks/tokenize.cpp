#include "tasks/tokenize.h"

#include "common/error.h"

namespace userllm::tasks {

std::vector<int64_t> answer_ids(const llm::Tokenizer& tok, std::string_view text) {
  if (tok.eos_id() < 0) fail("the tokenizer has no EOS token: answers cannot be terminated");
  std::vector<int32_t> ids = tok.encode(text, false, false);
  std::vector<int64_t> out(ids.begin(), ids.end());
  out.push_back(tok.eos_id());
  return out;
}

TokenizedExample tokenize_example(const llm::Tokenizer& tok, std::string_view prompt, std::string_view answer,
                                  int64_t max_len) {
  TokenizedExample t;
  std::vector<int32_t> p = tok.encode(prompt, true, false);
  t.ids.assign(p.begin(), p.end());
  t.prompt_len = int64_t(t.ids.size());
  std::vector<int64_t> a = answer_ids(tok, answer);
  if (max_len > 0 && t.prompt_len + int64_t(a.size()) > max_len) {
    if (t.prompt_len >= max_len)
      fail("the prompt is " + std::to_string(t.prompt_len) + " tokens: no room for an answer within " +
           std::to_string(max_len) + " tokens");
    a.resize(size_t(max_len - t.prompt_len));
    t.truncated = true;
  }
  t.ids.insert(t.ids.end(), a.begin(), a.end());
  t.loss_mask.assign(t.ids.size(), 0);
  for (size_t i = size_t(t.prompt_len); i < t.ids.size(); ++i) t.loss_mask[i] = 1;
  return t;
}

}  // namespace userllm::tasks
