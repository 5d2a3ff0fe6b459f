#include "llm/added_tokens.h"

namespace userllm::llm {
namespace {
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_word(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || uint8_t(c) >= 0x80;
}
}  // namespace

int AddedTokenMatcher::child(int node, uint8_t c) const {
  if (node == 0) return root_[c];
  for (auto [b, n] : nodes_[node].next)
    if (b == c) return n;
  return 0;
}

void AddedTokenMatcher::add(const AddedToken& t) {
  if (t.content.empty()) return;
  int node = 0;
  for (char ch : t.content) {
    const auto c = uint8_t(ch);
    int n = child(node, c);
    if (!n) {
      n = int(nodes_.size());
      nodes_.emplace_back();
      if (node == 0) root_[c] = n;
      else nodes_[node].next.emplace_back(c, n);
    }
    node = n;
  }
  if (nodes_[node].token < 0) {  // the first of duplicate contents wins
    nodes_[node].token = int(tokens_.size());
    tokens_.push_back(t);
  }
}

std::vector<AddedTokenMatcher::Part> AddedTokenMatcher::split(std::string_view text) const {
  std::vector<Part> parts;
  size_t plain = 0;  // start of the pending plain text
  for (size_t i = 0; i < text.size();) {
    int best = -1;
    size_t best_end = 0;
    for (int node = root_[uint8_t(text[i])], k = int(i) + 1; node; node = k < int(text.size()) ? child(node, uint8_t(text[k++])) : 0) {
      if (nodes_[node].token >= 0) {
        best = nodes_[node].token;
        best_end = size_t(k);
      }
    }
    if (best >= 0) {
      const AddedToken& t = tokens_[size_t(best)];
      if (t.single_word && ((i > 0 && is_word(text[i - 1])) || (best_end < text.size() && is_word(text[best_end])))) best = -1;
    }
    if (best < 0) {
      i++;
      continue;
    }
    const AddedToken& t = tokens_[size_t(best)];
    size_t b = i, e = best_end;
    if (t.lstrip)
      while (b > plain && is_space(text[b - 1])) b--;
    if (t.rstrip)
      while (e < text.size() && is_space(text[e])) e++;
    if (b > plain) parts.push_back({text.substr(plain, b - plain), -1});
    parts.push_back({text.substr(b, e - b), t.id});
    plain = i = e;
  }
  if (plain < text.size()) parts.push_back({text.substr(plain), -1});
  return parts;
}

}  // namespace userllm::llm
