#include "eval/title_trie.h"

#include "common/error.h"
#include "tasks/tokenize.h"

namespace userllm::eval {

void TitleTrie::insert(const std::vector<int64_t>& tokens, int64_t item) {
  if (tokens.empty()) fail("item " + std::to_string(item) + " has an empty token sequence");
  int32_t node = kRoot;
  for (int64_t t : tokens) {
    int32_t c = child(node, t);
    if (c < 0) {
      c = int32_t(nodes_.size());
      nodes_[size_t(node)].next.emplace_back(t, c);
      nodes_.emplace_back();
    }
    node = c;
  }
  nodes_[size_t(node)].items.push_back(item);
  sequences_.emplace_back(item, tokens);
}

int32_t TitleTrie::child(int32_t node, int64_t token) const {
  for (const auto& [t, c] : nodes_.at(size_t(node)).next)
    if (t == token) return c;
  return -1;
}

TitleTrie build_title_trie(const data::Dataset& ds, const llm::Tokenizer& tok, const std::vector<uint32_t>& items) {
  TitleTrie trie;
  auto add = [&](uint32_t item) {
    if (item >= ds.num_items()) fail("item id " + std::to_string(item) + " is outside the catalogue");
    trie.insert(tasks::answer_ids(tok, ds.item_title(item)), item);
  };
  if (items.empty())
    for (uint32_t i = 2; i < ds.num_items(); ++i) add(i);
  else
    for (uint32_t i : items) add(i);
  return trie;
}

}  // namespace userllm::eval
