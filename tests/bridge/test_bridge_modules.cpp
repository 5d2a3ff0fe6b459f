// The bridge's modules on a small random Llama: zero gates leave the LLM
// untouched, the Perceiver's output does not depend on the history length,
// and soft-prompt packing gives a padded batch the logits of single examples.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "bridge/gated_cross_attention.h"
#include "bridge/perceiver.h"
#include "bridge/projector.h"
#include "bridge/soft_prompt.h"
#include "common/error.h"
#include "llm/llama.h"

using namespace userllm;

namespace {

llm::LlamaConfig tiny_config() {
  llm::LlamaConfig c;
  c.vocab_size = 50;
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.num_layers = 4;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.max_position_embeddings = 128;
  c.rms_norm_eps = 1e-5;
  return c;
}

}  // namespace

TEST(GatedCrossAttention, ZeroGatesLeaveLogitsBitIdentical) {
  torch::manual_seed(1);
  llm::LlamaForCausalLM model(tiny_config());
  model->eval();
  auto ids = torch::randint(0, 50, {2, 9}, torch::kLong);
  auto before = model->forward(ids);

  bridge::CrossAttentionStack stack(bridge::GatedCrossAttentionOptions(32, 24, 4), bridge::every_kth_layer(4, 2));
  EXPECT_EQ(stack->layers(), (std::vector<int64_t>{1, 3}));
  stack->attach(*model);
  stack->set_context(torch::randn({2, 7, 24}), torch::ones({2, 7}, torch::kBool));
  auto after = model->forward(ids);
  EXPECT_TRUE(torch::equal(before, after));

  // Opening one gate must change the output, so the check above is not vacuous.
  for (auto& p : stack->named_parameters())
    if (p.key().find("attn_gate") != std::string::npos) p.value().data().fill_(0.5);
  auto opened = model->forward(ids);
  EXPECT_GT((opened - before).abs().max().item<float>(), 1e-4);
}

TEST(GatedCrossAttention, GatesReceiveGradientFromZero) {
  torch::manual_seed(2);
  llm::LlamaForCausalLM model(tiny_config());
  bridge::CrossAttentionStack stack(bridge::GatedCrossAttentionOptions(32, 32, 4), std::vector<int64_t>{0});
  stack->attach(*model);
  stack->set_context(torch::randn({1, 5, 32}));
  auto logits = model->forward(torch::randint(0, 50, {1, 6}, torch::kLong));
  logits.pow(2).mean().backward();
  for (auto& p : stack->named_parameters())
    if (p.key().find("gate") != std::string::npos) {
      ASSERT_TRUE(p.value().grad().defined()) << p.key();
      EXPECT_GT(p.value().grad().abs().item<float>(), 0) << p.key();
    }
}

TEST(GatedCrossAttention, RejectsLayersTheModelDoesNotHave) {
  llm::LlamaForCausalLM model(tiny_config());
  bridge::CrossAttentionStack stack(bridge::GatedCrossAttentionOptions(32, 32, 4), std::vector<int64_t>{4});
  EXPECT_THROW(stack->attach(*model), Error);
}

TEST(CrossAttention, PaddedContextIsIgnoredAndEmptyContextGivesZeros) {
  torch::manual_seed(3);
  bridge::CrossAttention attn(bridge::CrossAttentionOptions(16, 8, 2));
  auto x = torch::randn({2, 3, 16});
  auto ctx = torch::randn({2, 5, 8});
  auto mask = torch::tensor({{1, 1, 1, 0, 0}, {0, 0, 0, 0, 0}}).to(torch::kBool);
  auto y = attn(x, ctx, mask);
  auto y_short = attn(x.slice(0, 0, 1), ctx.slice(0, 0, 1).slice(1, 0, 3));
  EXPECT_TRUE(torch::allclose(y.slice(0, 0, 1), y_short, 1e-5, 1e-6));
  EXPECT_EQ(y[1].abs().max().item<float>(), 0.0f);
  EXPECT_FALSE(y.isnan().any().item<bool>());
}

TEST(Perceiver, OutputShapeDoesNotDependOnHistoryLength) {
  torch::manual_seed(4);
  bridge::Perceiver perceiver(bridge::PerceiverOptions(32, 24, 16).blocks(2).heads(4));
  for (int64_t L : {1, 7, 50, 300}) {
    auto out = perceiver(torch::randn({3, L, 24}));
    EXPECT_EQ(out.sizes(), (std::vector<int64_t>{3, 16, 32})) << "L = " << L;
  }
}

TEST(Perceiver, MaskedHistoryEntriesDoNotChangeTheLatents) {
  torch::manual_seed(5);
  bridge::Perceiver perceiver(bridge::PerceiverOptions(16, 16, 4).blocks(2).heads(2));
  perceiver->eval();
  auto ctx = torch::randn({1, 6, 16});
  auto padded = torch::cat({ctx, torch::randn({1, 4, 16}) * 100}, 1);
  auto mask = torch::cat({torch::ones({1, 6}), torch::zeros({1, 4})}, 1).to(torch::kBool);
  EXPECT_TRUE(torch::allclose(perceiver(ctx), perceiver(padded, mask), 1e-5, 1e-5));
}

TEST(Projector, LinearAndMlpMapWidths) {
  bridge::Projector linear(bridge::ProjectorOptions(24, 32));
  bridge::Projector mlp(bridge::ProjectorOptions(24, 32).mlp(true).hidden(48));
  auto x = torch::randn({2, 5, 24});
  EXPECT_EQ(linear(x).sizes(), (std::vector<int64_t>{2, 5, 32}));
  EXPECT_EQ(mlp(x).sizes(), (std::vector<int64_t>{2, 5, 32}));
  EXPECT_EQ(linear->parameters().size(), 2u);
  EXPECT_EQ(mlp->parameters().size(), 4u);
}

TEST(SoftPrompt, PaddedBatchGivesTheLogitsOfSingleExamples) {
  torch::manual_seed(6);
  llm::LlamaForCausalLM model(tiny_config());
  model->eval();
  torch::NoGradGuard no_grad;
  // Example 0: 3 user vectors, 4 tokens; example 1: 1 user vector, 6 tokens.
  auto prefix0 = torch::randn({1, 3, 32}), prefix1 = torch::randn({1, 1, 32});
  auto tok0 = model->embed(torch::randint(0, 50, {1, 4}, torch::kLong));
  auto tok1 = model->embed(torch::randint(0, 50, {1, 6}, torch::kLong));

  auto single = [&](const torch::Tensor& p, const torch::Tensor& t) {
    auto packed = bridge::pack_soft_prompt(p, {}, t, {});
    return model->forward_embeddings(packed.embeds, nullptr, packed.positions, packed.key_mask);
  };
  auto l0 = single(prefix0, tok0), l1 = single(prefix1, tok1);

  // Right-pad each part to the batch's widths; packing must move the pads left.
  auto prefix = torch::zeros({2, 3, 32}), tokens = torch::zeros({2, 6, 32});
  prefix[0].copy_(prefix0[0]);
  prefix[1].slice(0, 0, 1).copy_(prefix1[0]);
  tokens[0].slice(0, 0, 4).copy_(tok0[0]);
  tokens[1].copy_(tok1[0]);
  auto pmask = torch::tensor({{1, 1, 1}, {1, 0, 0}}).to(torch::kBool);
  auto tmask = torch::tensor({{1, 1, 1, 1, 0, 0}, {1, 1, 1, 1, 1, 1}}).to(torch::kBool);
  auto packed = bridge::pack_soft_prompt(prefix, pmask, tokens, tmask);
  EXPECT_TRUE(torch::equal(packed.key_mask.sum(1), torch::tensor({7, 7}, torch::kLong)));
  EXPECT_EQ(packed.key_mask[0].slice(0, 0, 2).sum().item<int64_t>(), 0);  // pads first
  auto batch = model->forward_embeddings(packed.embeds, nullptr, packed.positions, packed.key_mask);

  // Real positions of each row are its last 7 columns.
  EXPECT_TRUE(torch::allclose(batch[0].slice(0, 2, 9), l0[0], 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(batch[1].slice(0, 2, 9), l1[0], 1e-5, 1e-5));
}
