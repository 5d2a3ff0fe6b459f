// LoRA: a fresh adapter changes nothing, a trained one can be saved apart
// (PEFT names), reloaded, and merged into the base weights.
#include <gtest/gtest.h>

#include "common/atomic_file.h"
#include "common/error.h"
#include "llm/lora.h"
#include "llm/safetensors.h"
#include "llm_test_util.h"
#include "test_util.h"

namespace userllm::llm {
namespace {

torch::Tensor logits_of(LlamaForCausalLM& m) {
  torch::NoGradGuard g;
  return m->forward(torch::tensor({1L, 5L, 7L, 2L, 11L}).unsqueeze(0));
}

void randomize_lora(LlamaForCausalLM& m) {
  torch::NoGradGuard g;
  for (auto& [name, t] : lora_state(m)) t.copy_(torch::randn(t.sizes()) * 0.3);
}

TEST(Lora, FreshAdapterIsIdentityAndOnlyAdaptersTrain) {
  auto m = test::random_model(test::tiny_config());
  auto before = logits_of(m);
  LoraConfig cfg;
  cfg.targets = {"q_proj", "v_proj", "down_proj"};
  EXPECT_EQ(apply_lora(m, cfg), 6);  // 3 targets x 2 layers
  EXPECT_TRUE(torch::equal(logits_of(m), before));
  int64_t trainable = 0;
  for (const auto& p : m->named_parameters())
    if (p.value().requires_grad()) {
      EXPECT_NE(p.key().find(".lora_"), std::string::npos) << p.key();
      ++trainable;
    }
  EXPECT_EQ(trainable, 12);
  // One optimiser step moves the output (B starts at zero, its gradient does not).
  m->train();
  torch::optim::SGD opt(m->parameters(), 0.1);
  auto loss = m->forward(torch::tensor({1L, 5L, 7L}).unsqueeze(0)).logsumexp(-1).mean();
  loss.backward();
  opt.step();
  m->eval();
  EXPECT_FALSE(torch::allclose(logits_of(m), before));
  LoraConfig nothing;
  nothing.targets = {"no_such_proj"};
  auto m2 = test::random_model(test::tiny_config());
  EXPECT_THROW(apply_lora(m2, nothing), Error);
}

TEST(Lora, MergedEqualsUnmerged) {
  auto m = test::random_model(test::tiny_config());
  LoraConfig cfg;
  cfg.rank = 4;
  cfg.alpha = 8;
  cfg.targets = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head"};
  apply_lora(m, cfg);
  randomize_lora(m);
  auto base_q = m->model->layer_list[0]->self_attn->q_proj->weight.clone();
  auto unmerged = logits_of(m);
  EXPECT_FALSE(torch::allclose(unmerged, [&] {
    auto plain = test::random_model(test::tiny_config());
    return logits_of(plain);
  }()));
  merge_lora(m);
  EXPECT_TRUE(lora_state(m).empty());
  EXPECT_FALSE(torch::equal(m->model->layer_list[0]->self_attn->q_proj->weight, base_q));
  EXPECT_LT((logits_of(m) - unmerged).abs().max().item<double>(), 1e-5);
}

TEST(Lora, SavedApartWithPeftNamesAndReloaded) {
  test::ScratchDir tmp;
  auto m = test::random_model(test::tiny_config());
  LoraConfig cfg;
  cfg.rank = 3;
  cfg.alpha = 6;
  cfg.dropout = 0.1;
  apply_lora(m, cfg);
  randomize_lora(m);
  auto want = logits_of(m);  // eval mode: dropout off
  save_lora(m, cfg, tmp.path());
  auto names = read_safetensors(tmp / "adapter_model.safetensors");
  EXPECT_EQ(names.size(), 8u);
  EXPECT_TRUE(names.count("base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight"));
  EXPECT_EQ(names["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"].sizes(), (torch::IntArrayRef{3, 16}));
  auto j = nlohmann::json::parse(read_file(tmp / "adapter_config.json"));
  EXPECT_EQ(j["r"], 3);
  EXPECT_EQ(j["peft_type"], "LORA");

  auto fresh = test::random_model(test::tiny_config());  // the same base weights (same seed)
  auto back_cfg = load_lora(fresh, tmp.path());
  EXPECT_EQ(back_cfg.targets, cfg.targets);
  EXPECT_TRUE(torch::equal(logits_of(fresh), want));

  // An adapter for a model of another shape is refused.
  auto cfg32 = test::tiny_config();
  cfg32.hidden_size = 32;
  auto other = test::random_model(cfg32);
  EXPECT_THROW(load_lora(other, tmp.path()), Error);
}

}  // namespace
}  // namespace userllm::llm
