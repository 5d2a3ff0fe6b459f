// Title trie, constrained beam search and candidate scoring: against a stub
// model whose log-probs depend on the whole prefix, and against a tiny random
// Llama scored by brute force (full forward passes without a cache).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "common/error.h"
#include "data/test_dataset_util.h"
#include "eval/beam_search.h"
#include "eval/candidates.h"
#include "eval/title_trie.h"
#include "eval/reference_scoring.h"
#include "llm/llm_test_util.h"
#include "tasks/word_tokenizer.h"
#include "test_util.h"

using namespace userllm;

namespace {

constexpr int64_t kEos = 2;

// Log-probs that are a fixed pseudo-random function of the row's whole token
// history, plus optional boosts for chosen (prefix, token) pairs.
class StubModel : public eval::PrefixModel {
 public:
  explicit StubModel(int64_t vocab) : vocab_(vocab) {}
  std::map<std::pair<std::vector<int64_t>, int64_t>, double> boost;
  int64_t vocab_size() const override { return vocab_; }
  torch::Tensor first_logprobs() override { return logprobs({}); }
  void reset() override { rows_.clear(); }
  torch::Tensor step(const std::vector<int64_t>& parents, const std::vector<int64_t>& tokens) override {
    std::vector<std::vector<int64_t>> next;
    for (size_t i = 0; i < parents.size(); ++i) {
      next.push_back(rows_.empty() ? std::vector<int64_t>{} : rows_.at(size_t(parents[i])));
      next.back().push_back(tokens[i]);
    }
    rows_ = next;
    std::vector<torch::Tensor> out;
    for (const auto& r : rows_) out.push_back(logprobs(r));
    return torch::stack(out);
  }

 private:
  torch::Tensor logprobs(const std::vector<int64_t>& prefix) const {
    uint64_t h = 1469598103934665603ull;
    for (int64_t t : prefix) h = (h ^ uint64_t(t + 7)) * 1099511628211ull;
    auto logits = torch::empty({vocab_}, torch::kFloat64);
    for (int64_t v = 0; v < vocab_; ++v) {
      uint64_t x = (h ^ uint64_t(v * 2654435761ull)) * 0x9E3779B97F4A7C15ull;
      logits[v] = double(x >> 40) / double(1 << 24) * 4.0;
      auto it = boost.find({prefix, v});
      if (it != boost.end()) logits[v] = logits[v].item<double>() + it->second;
    }
    return torch::log_softmax(logits, -1);
  }
  int64_t vocab_;
  std::vector<std::vector<int64_t>> rows_;
};

// Titles over tokens 3..9 with shared prefixes, one a prefix of another (before EOS), and a duplicate.
eval::TitleTrie small_trie() {
  eval::TitleTrie t;
  t.insert({3, 4, kEos}, 10);
  t.insert({3, 4, 5, kEos}, 11);
  t.insert({3, 6, kEos}, 12);
  t.insert({7, kEos}, 13);
  t.insert({8, 9, 4, 5, kEos}, 14);
  t.insert({5, 9, kEos}, 15);
  t.insert({7, kEos}, 16);  // same title as 13
  return t;
}

// Every title scored by the model's teacher-forced score(), sorted like beam search.
std::vector<eval::ScoredItem> brute_force(eval::PrefixModel& m, const eval::TitleTrie& trie) {
  std::vector<std::vector<int64_t>> seqs;
  std::vector<std::vector<int64_t>> items;
  for (const auto& [item, seq] : trie.sequences()) {
    auto it = std::find(seqs.begin(), seqs.end(), seq);
    if (it != seqs.end()) {
      items[size_t(it - seqs.begin())].push_back(item);
      continue;
    }
    seqs.push_back(seq);
    items.push_back({item});
  }
  auto lp = m.score(seqs);
  std::vector<eval::ScoredItem> out;
  for (size_t i = 0; i < seqs.size(); ++i) out.push_back({items[i], seqs[i], lp[i], eval::normalised_score(lp[i], seqs[i].size())});
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.score > b.score; });
  return out;
}

void expect_same(const std::vector<eval::ScoredItem>& a, const std::vector<eval::ScoredItem>& b, double tol) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].items, b[i].items) << "rank " << i;
    EXPECT_EQ(a[i].tokens, b[i].tokens) << "rank " << i;
    EXPECT_NEAR(a[i].logprob, b[i].logprob, tol) << "rank " << i;
  }
}


}  // namespace

TEST(TitleTrie, SharesPrefixesAndLeaves) {
  auto t = small_trie();
  EXPECT_EQ(t.num_nodes(), 18u);  // root + 3 4 EOS + 5 EOS + 6 EOS + 7 EOS + 8 9 4 5 EOS + 5 9 EOS
  int32_t n3 = t.child(eval::TitleTrie::kRoot, 3);
  ASSERT_GE(n3, 0);
  EXPECT_EQ(t.children(n3).size(), 2u);
  int32_t n34 = t.child(n3, 4);
  EXPECT_TRUE(t.items(n34).empty());
  EXPECT_EQ(t.items(t.child(n34, kEos)), (std::vector<int64_t>{10}));
  EXPECT_EQ(t.items(t.child(t.child(eval::TitleTrie::kRoot, 7), kEos)), (std::vector<int64_t>{13, 16}));
  EXPECT_EQ(t.child(eval::TitleTrie::kRoot, 4), -1);
  EXPECT_THROW(t.insert({}, 1), Error);
}

TEST(TitleTrie, FromCatalogue) {
  test::ScratchDir dir;
  auto ds = test::build_dataset(dir / "ds", {{"u", 1, "a"}, {"u", 2, "b"}, {"u", 3, "c"}}, {},
                                {{"a", {"X"}}, {"b", {"X"}}, {"c", {"X"}}});
  test::WordTokenizer tok;
  auto trie = eval::build_title_trie(ds, tok);
  ASSERT_EQ(trie.sequences().size(), 3u);
  std::set<std::string> titles;
  for (const auto& [item, seq] : trie.sequences()) {
    EXPECT_EQ(seq.back(), kEos);
    std::vector<int32_t> ids(seq.begin(), seq.end() - 1);
    EXPECT_EQ(tok.decode(ids), std::string(ds.item_title(uint32_t(item))));
    titles.insert(tok.decode(ids));
  }
  EXPECT_EQ(titles, (std::set<std::string>{"Title a", "Title b", "Title c"}));
  EXPECT_EQ(trie.children(eval::TitleTrie::kRoot).size(), 1u);  // every title starts with "Title"
  EXPECT_THROW(eval::build_title_trie(ds, tok, {ds.num_items()}), Error);
}

TEST(BeamSearch, ExhaustiveBeamEqualsBruteForceOnStub) {
  auto trie = small_trie();
  StubModel m(12);
  auto all = brute_force(m, trie);
  ASSERT_EQ(all.size(), 6u);
  eval::BeamOptions o;
  o.beam = 6;
  o.top_k = 6;
  expect_same(eval::constrained_beam_search(m, trie, o), all, 1e-12);
  o.top_k = 3;
  auto top3 = eval::constrained_beam_search(m, trie, o);
  expect_same(top3, std::vector<eval::ScoredItem>(all.begin(), all.begin() + 3), 1e-12);
}

TEST(BeamSearch, FindsTheRiggedItemWithANarrowBeam) {
  auto trie = small_trie();
  StubModel m(12);
  // Make the 5-token title 14 overwhelmingly likely, token by token.
  std::vector<int64_t> title{8, 9, 4, 5, kEos}, prefix;
  for (int64_t t : title) {
    m.boost[{prefix, t}] = 30.0;
    prefix.push_back(t);
  }
  eval::BeamOptions o;
  o.beam = 1;
  o.top_k = 1;
  auto best = eval::constrained_beam_search(m, trie, o);
  ASSERT_EQ(best.size(), 1u);
  EXPECT_EQ(best[0].items, (std::vector<int64_t>{14}));
  EXPECT_EQ(best[0].tokens, title);
  EXPECT_GT(best[0].score, -1e-3);
  o.max_steps = 3;  // too short for title 14: it cannot be returned
  for (const auto& r : eval::constrained_beam_search(m, trie, o)) EXPECT_NE(r.items[0], 14);
}

TEST(LlamaPrefix, BatchedScoreMatchesFullForward) {
  auto model = test::random_model(test::tiny_config());
  std::vector<int64_t> prompt{1, 5, 9, 4};
  auto trie = small_trie();
  std::vector<std::vector<int64_t>> seqs;
  for (const auto& [item, seq] : trie.sequences()) seqs.push_back(seq);
  auto p = eval::LlamaPrefix::from_ids(model, prompt, 8);
  p.max_batch = 3;  // several batches, uneven lengths within each
  auto batched = p.score(seqs);
  auto stepwise = p.PrefixModel::score(seqs);
  for (size_t i = 0; i < seqs.size(); ++i) {
    double want = test::full_forward_logprob(model, prompt, seqs[i]);
    EXPECT_NEAR(batched[i], want, 1e-4) << i;
    EXPECT_NEAR(stepwise[i], want, 1e-4) << i;
  }
  EXPECT_THROW(p.score({{}}), Error);
  EXPECT_THROW(p.score({{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}}), Error);  // longer than the room left
  EXPECT_THROW(p.step({1}, {3}), Error);                            // the prompt is row 0 only
}

TEST(LlamaPrefix, PaddedEmbeddingsPrefixEqualsIds) {
  auto model = test::random_model(test::tiny_config());
  std::vector<int64_t> prompt{1, 5, 9, 4};
  auto a = eval::LlamaPrefix::from_ids(model, prompt, 4);
  torch::NoGradGuard ng;
  // Two pad positions on the left, masked out.
  auto ids = torch::tensor(std::vector<int64_t>{0, 0, 1, 5, 9, 4}).unsqueeze(0);
  auto mask = torch::tensor(std::vector<int64_t>{0, 0, 1, 1, 1, 1}).unsqueeze(0);
  auto b = eval::LlamaPrefix::from_embeddings(model, model->embed(ids), mask, 4);
  EXPECT_TRUE(torch::allclose(a.first_logprobs(), b.first_logprobs(), 1e-5, 1e-5));
  auto sa = a.score({{3, 4, kEos}}), sb = b.score({{3, 4, kEos}});
  EXPECT_NEAR(sa[0], sb[0], 1e-4);
  auto ta = a.step({0, 0}, {3, 7}), tb = b.step({0, 0}, {3, 7});
  EXPECT_TRUE(torch::allclose(ta, tb, 1e-5, 1e-5));
}

TEST(BeamSearch, TinyLlamaReturnsRealItemsAndMatchesBruteForce) {
  auto model = test::random_model(test::tiny_config(), 3);
  auto trie = small_trie();
  auto p = eval::LlamaPrefix::from_ids(model, {1, 8, 8, 3}, 8);
  auto all = brute_force(p, trie);
  eval::BeamOptions o;
  o.beam = 6;
  o.top_k = 6;
  expect_same(eval::constrained_beam_search(p, trie, o), all, 1e-4);
  o.beam = 2;
  o.top_k = 4;
  std::set<int64_t> real{10, 11, 12, 13, 14, 15, 16}, seen;
  for (const auto& r : eval::constrained_beam_search(p, trie, o)) {
    for (int64_t i : r.items) EXPECT_TRUE(real.count(i)) << i;
    EXPECT_TRUE(seen.insert(r.items[0]).second);  // distinct items
    EXPECT_EQ(r.tokens.back(), kEos);
  }
}

TEST(Candidates, SampledNegativesAreSeededDistinctAndEligible) {
  auto a = eval::sample_negatives(50, 7, 19, 42, {3, 4});
  EXPECT_EQ(a, eval::sample_negatives(50, 7, 19, 42, {3, 4}));
  EXPECT_NE(a, eval::sample_negatives(50, 7, 19, 43, {3, 4}));
  std::set<uint32_t> s(a.begin(), a.end());
  EXPECT_EQ(s.size(), 19u);
  for (uint32_t i : a) {
    EXPECT_GE(i, 2u);
    EXPECT_LT(i, 50u);
    EXPECT_NE(i, 7u);
    EXPECT_NE(i, 3u);
    EXPECT_NE(i, 4u);
  }
  EXPECT_EQ(eval::sample_negatives(10, 2, 7, 1).size(), 7u);  // every eligible item: 3..9
  EXPECT_THROW(eval::sample_negatives(10, 2, 8, 1), Error);
}

TEST(Candidates, HitAtOneAmongTwentyMatchesBruteForce) {
  auto model = test::random_model(test::tiny_config(), 5);
  auto p = eval::LlamaPrefix::from_ids(model, {1, 6, 7}, 6);
  // 20 candidate "titles" of 1-3 tokens from the model's vocabulary.
  std::vector<int64_t> items;
  std::vector<std::vector<int64_t>> titles;
  for (int64_t i = 0; i < 20; ++i) {
    items.push_back(100 + i);
    std::vector<int64_t> t{3 + i % 19};
    if (i % 3) t.push_back(3 + (i * 7) % 19);
    t.push_back(kEos);
    titles.push_back(t);
  }
  std::vector<double> want;
  for (const auto& t : titles) want.push_back(test::full_forward_logprob(model, {1, 6, 7}, t) / double(t.size()));
  int hits = 0;
  for (size_t pos = 0; pos < items.size(); ++pos) {
    // The candidate list with `pos` as the positive, the others as negatives.
    std::vector<int64_t> it{items[pos]};
    std::vector<std::vector<int64_t>> ti{titles[pos]};
    int64_t rank = 0;
    for (size_t j = 0; j < items.size(); ++j)
      if (j != pos) {
        it.push_back(items[j]);
        ti.push_back(titles[j]);
        rank += want[j] >= want[pos];
      }
    auto r = eval::score_candidates(p, it, ti);
    EXPECT_EQ(r.items, it);
    for (size_t j = 0; j < it.size(); ++j)
      EXPECT_NEAR(r.scores[j], want[size_t(it[j] - 100)], 1e-4);
    EXPECT_EQ(r.positive_rank, rank) << pos;
    hits += r.hit_at_1();
  }
  EXPECT_EQ(hits, 1);  // exactly the best-scoring candidate is a hit
  EXPECT_THROW(eval::score_candidates(p, {1, 2}, {{3, kEos}}), Error);
}
