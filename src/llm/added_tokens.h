// Added tokens of tokenizer.json ("<|begin_of_text|>", "<think>"...): found in
// the text before any splitting, leftmost-longest, like Hugging Face does.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace userllm::llm {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false, normalized = false, lstrip = false, rstrip = false, single_word = false;
};

class AddedTokenMatcher {
 public:
  void add(const AddedToken& t);
  bool empty() const { return tokens_.empty(); }

  struct Part {
    std::string_view text;
    int32_t id = -1;  // >= 0: the added token matched here
  };
  // The text as runs of plain text and matched tokens, in order.
  std::vector<Part> split(std::string_view text) const;

 private:
  struct Node {
    std::vector<std::pair<uint8_t, int>> next;
    int token = -1;  // index into tokens_
  };
  int child(int node, uint8_t c) const;
  std::vector<AddedToken> tokens_;
  std::vector<Node> nodes_{Node{}};
  std::array<int, 256> root_{};  // first byte -> node, 0 when none
};

}  // namespace userllm::llm
