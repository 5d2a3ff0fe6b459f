// A token trie of the catalogue's titles: every path from the root spells one
// title's token ids under a given tokenizer and ends with EOS, so decoding
// that follows the trie can only produce real items.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "data/dataset.h"
#include "llm/tokenizer.h"

namespace userllm::eval {

class TitleTrie {
 public:
  static constexpr int32_t kRoot = 0;
  TitleTrie() : nodes_(1) {}
  // Adds one item's token sequence (non-empty, ending with EOS for titles);
  // items with identical sequences share the final node.
  void insert(const std::vector<int64_t>& tokens, int64_t item);
  // The node reached from `node` by `token`, or -1.
  int32_t child(int32_t node, int64_t token) const;
  // (token, node) pairs leaving `node`, in insertion order.
  const std::vector<std::pair<int64_t, int32_t>>& children(int32_t node) const { return nodes_.at(size_t(node)).next; }
  // The items whose sequence ends at `node` (empty for inner nodes).
  const std::vector<int64_t>& items(int32_t node) const { return nodes_.at(size_t(node)).items; }
  // The token sequence of every inserted item, in insertion order (for brute-force scoring).
  const std::vector<std::pair<int64_t, std::vector<int64_t>>>& sequences() const { return sequences_; }
  size_t num_nodes() const { return nodes_.size(); }

 private:
  struct Node {
    std::vector<std::pair<int64_t, int32_t>> next;
    std::vector<int64_t> items;
  };
  std::vector<Node> nodes_;
  std::vector<std::pair<int64_t, std::vector<int64_t>>> sequences_;
};

// The trie of the titles of `items` (all real items, ids 2.., when empty),
// each encoded as tasks::answer_ids() encodes an answer.
TitleTrie build_title_trie(const data::Dataset& ds, const llm::Tokenizer& tok, const std::vector<uint32_t>& items = {});

}  // namespace userllm::eval
