#include "eval/beam_search.h"

#include <algorithm>

#include "common/error.h"

namespace userllm::eval {

double normalised_score(double logprob, size_t tokens) { return tokens ? logprob / double(tokens) : logprob; }

namespace {
struct Beam {
  int32_t node;
  std::vector<int64_t> tokens;
  double logprob;
  int64_t row;  // this beam's row in the model's current batch
};
}  // namespace

std::vector<ScoredItem> constrained_beam_search(PrefixModel& model, const TitleTrie& trie, const BeamOptions& opts) {
  if (opts.beam < 1 || opts.top_k < 1 || opts.max_steps < 1) fail("beam search: beam, top_k and max_steps must be positive");
  model.reset();
  std::vector<Beam> live{{TitleTrie::kRoot, {}, 0.0, 0}};
  std::vector<ScoredItem> done;
  torch::Tensor lp = model.first_logprobs().view({1, -1}).to(torch::kCPU, torch::kFloat64);
  for (int step = 0; step < opts.max_steps && !live.empty(); ++step) {
    auto acc = lp.accessor<double, 2>();
    std::vector<Beam> next;
    for (const Beam& b : live)
      for (const auto& [tok, child] : trie.children(b.node)) {
        if (tok < 0 || tok >= lp.size(1)) fail("beam search: trie token " + std::to_string(tok) + " is outside the vocabulary");
        Beam n{child, b.tokens, b.logprob + acc[b.row][tok], b.row};
        n.tokens.push_back(tok);
        if (!trie.items(child).empty())
          done.push_back({trie.items(child), n.tokens, n.logprob, normalised_score(n.logprob, n.tokens.size())});
        if (!trie.children(child).empty()) next.push_back(std::move(n));
      }
    if (next.size() > size_t(opts.beam)) {
      std::partial_sort(next.begin(), next.begin() + opts.beam, next.end(),
                        [](const Beam& a, const Beam& b) { return a.logprob > b.logprob; });
      next.resize(size_t(opts.beam));
    }
    if (next.empty() || step + 1 == opts.max_steps) break;
    std::vector<int64_t> parents, tokens;
    for (size_t i = 0; i < next.size(); ++i) {
      parents.push_back(next[i].row);
      tokens.push_back(next[i].tokens.back());
      next[i].row = int64_t(i);
    }
    lp = model.step(parents, tokens).to(torch::kCPU, torch::kFloat64);
    live = std::move(next);
  }
  std::stable_sort(done.begin(), done.end(), [](const ScoredItem& a, const ScoredItem& b) { return a.score > b.score; });
  if (done.size() > size_t(opts.top_k)) done.resize(size_t(opts.top_k));
  return done;
}

}  // namespace userllm::eval
