// LlamaPrefix with the bridge: a cross-attention context (set through the
// RowsHook for every batch of beams / candidates) and soft-prompt packing.
#include <gtest/gtest.h>

#include "bridge/gated_cross_attention.h"
#include "bridge/soft_prompt.h"
#include "eval/beam_search.h"
#include "eval/prefix_model.h"
#include "eval/reference_scoring.h"
#include "llm/llm_test_util.h"

using namespace userllm;

namespace {


}  // namespace

TEST(LlamaPrefixBridge, CrossAttentionContextFollowsTheRows) {
  auto model = test::random_model(test::tiny_config(), 7);
  const std::vector<int64_t> prompt{1, 4, 9};
  const std::vector<std::vector<int64_t>> seqs{{3, 2}, {5, 6, 2}, {7, 2}, {8, 8, 8, 2}};
  std::vector<double> plain;
  for (const auto& s : seqs) plain.push_back(test::full_forward_logprob(model, prompt, s));

  torch::manual_seed(11);
  bridge::CrossAttentionStack stack(bridge::GatedCrossAttentionOptions(16, 8, 2), std::vector<int64_t>{0, 1});
  {
    torch::NoGradGuard ng;
    for (auto& p : stack->named_parameters())
      if (p.key().find("gate") != std::string::npos) p.value().fill_(0.7);  // open the gates
  }
  stack->attach(*model);
  auto ctx = torch::randn({1, 5, 8});
  eval::RowsHook hook = [&](int64_t rows) { stack->set_context(ctx.expand({rows, -1, -1})); };
  hook(1);
  std::vector<double> want;
  for (const auto& s : seqs) want.push_back(test::full_forward_logprob(model, prompt, s));

  auto p = eval::LlamaPrefix::from_ids(model, prompt, 6, hook);
  auto got = p.score(seqs);
  auto stepwise = p.PrefixModel::score(seqs);
  for (size_t i = 0; i < seqs.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], 1e-4) << i;
    EXPECT_NEAR(stepwise[i], want[i], 1e-4) << i;
    EXPECT_GT(std::abs(want[i] - plain[i]), 1e-3) << "the context must change the scores";
  }
  eval::TitleTrie trie;
  for (size_t i = 0; i < seqs.size(); ++i) trie.insert(seqs[i], int64_t(i));
  eval::BeamOptions o;
  o.beam = 4;
  o.top_k = 4;
  auto beams = eval::constrained_beam_search(p, trie, o);
  ASSERT_EQ(beams.size(), 4u);
  for (const auto& b : beams)
    EXPECT_NEAR(b.logprob, want[size_t(b.items[0])], 1e-4);
}

TEST(LlamaPrefixBridge, SoftPromptPrefix) {
  auto model = test::random_model(test::tiny_config(), 9);
  torch::NoGradGuard ng;
  torch::manual_seed(3);
  // Three user vectors, the first one padding, before the prompt tokens.
  auto prefix = torch::randn({1, 3, 16});
  auto prefix_mask = torch::tensor(std::vector<int64_t>{0, 1, 1}).to(torch::kBool).unsqueeze(0);
  auto ids = torch::tensor(std::vector<int64_t>{1, 4, 9}).unsqueeze(0);
  auto packed = bridge::pack_soft_prompt(prefix, prefix_mask, model->embed(ids), {});
  auto p = eval::LlamaPrefix::from_embeddings(model, packed.embeds, packed.key_mask, 4);
  // The same without padding, by a full forward pass over [user vectors 1..2 | prompt | answer].
  const std::vector<int64_t> seq{5, 6, 2};
  auto answer = model->embed(torch::tensor(seq).unsqueeze(0));
  auto embeds = torch::cat({prefix.slice(1, 1), model->embed(ids), answer}, 1);
  auto lp = torch::log_softmax(model->forward_embeddings(embeds).to(torch::kFloat64), -1)[0];
  double want = 0;
  for (size_t t = 0; t < seq.size(); ++t) want += lp[int64_t(2 + 3 + t) - 1][seq[t]].item<double>();
  EXPECT_NEAR(p.score({seq})[0], want, 1e-4);
}
