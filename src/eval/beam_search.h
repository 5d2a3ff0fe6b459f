// Beam search constrained to a title trie: the LLM may only spell catalogue
// titles, so every result is a real item (next-item generation, User-LLM 4.2).
#pragma once
#include <cstdint>
#include <vector>

#include "eval/prefix_model.h"
#include "eval/title_trie.h"

namespace userllm::eval {

struct BeamOptions {
  int beam = 10;        // live partial titles kept per step
  int top_k = 10;       // complete items returned
  int max_steps = 64;   // longest title, in tokens (EOS included)
};

struct ScoredItem {
  std::vector<int64_t> items;   // the item(s) with this exact token sequence
  std::vector<int64_t> tokens;  // the title's ids, EOS included
  double logprob = 0;           // sum of the tokens' log-probabilities
  double score = 0;             // logprob / tokens.size(): the ranking key
};

// Length normalisation: titles differ in length and a sum of log-probs
// favours short ones, so complete items are ranked by the mean log-prob per
// token (EOS counts as a token). Live partial titles always have the same
// length at a given step, so pruning by their sum is the same as by their mean.
double normalised_score(double logprob, size_t tokens);

// The top_k complete items, best first, each a distinct trie leaf. With
// beam >= the number of titles nothing is ever pruned and the result equals
// scoring every title (score_titles) and sorting.
std::vector<ScoredItem> constrained_beam_search(PrefixModel& model, const TitleTrie& trie, const BeamOptions& opts);

}  // namespace userllm::eval
