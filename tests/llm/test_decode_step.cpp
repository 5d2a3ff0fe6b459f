// The plain-loop decode step (llm/decode_step.cpp) against the tensor path it
// replaces: left-padded batches, a layer hook, sliding windows, q/k norms,
// Gemma's norms, packed weights. (test_families.cpp also runs it against the
// Python reference for every family, through CachedDecodeMatchesTheReference.)
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "llm/generate.h"
#include "llm_test_util.h"

using namespace userllm;

namespace {

llm::LlamaConfig gemma_config() {
  auto c = test::tiny_config(true);
  c.model_type = "gemma3_text";
  c.qkv_bias = false;
  c.qk_norm = true;
  c.sliding_window = 3;
  c.sliding_layers = {true, false};
  c.final_logit_softcapping = 30.0;
  c.rope_local_theta = 1000.0;
  return c;
}

// Prefill a left-padded batch, then decode `steps` tokens one at a time, with
// the fast step on or off; returns every step's logits [B, steps, V].
torch::Tensor decode(llm::LlamaForCausalLM& m, bool fast, int64_t steps) {
  torch::NoGradGuard no_grad;
  m->set_fast_decode(fast);
  const auto& c = m->config();
  auto ids = torch::tensor({{0, 0, 3, 5, 7}, {1, 2, 3, 4, 5}, {0, 0, 0, 0, 9}}, torch::kLong);
  auto mask = ids.ne(0).to(torch::kLong);
  mask[1].fill_(1);
  const int64_t B = ids.size(0), P = ids.size(1);
  llm::KVCache cache(c, B, P + steps, torch::kCPU);
  m->forward(ids, &cache, llm::make_positions(mask, P), mask);
  std::vector<torch::Tensor> out;
  auto next = torch::tensor({{4}, {6}, {8}}, torch::kLong);
  for (int64_t s = 0; s < steps; ++s) {
    mask = torch::cat({mask, torch::ones({B, 1}, mask.options())}, 1);
    auto logits = m->forward(next, &cache, llm::make_positions(mask, 1), mask);
    out.push_back(logits);
    next = logits.argmax(-1).remainder(c.vocab_size);
  }
  m->set_fast_decode(true);
  return torch::cat(out, 1);
}

void expect_fast_matches_tensor_path(llm::LlamaForCausalLM& m, const char* what) {
  auto fast = decode(m, true, 6), slow = decode(m, false, 6);
  ASSERT_EQ(fast.sizes(), slow.sizes());
  EXPECT_LT((fast - slow).abs().max().item<double>(), 1e-4) << what;
}

}  // namespace

TEST(DecodeStep, MatchesTheTensorPathAcrossFamilies) {
  for (bool tied : {false, true}) {
    auto m = test::random_model(test::tiny_config(tied));
    expect_fast_matches_tensor_path(m, tied ? "qwen2 tied" : "qwen2");
  }
  auto q3 = test::tiny_config();
  q3.model_type = "qwen3";
  q3.qkv_bias = false;
  q3.qk_norm = true;
  q3.sliding_window = 4;  // Mistral-style: every layer slides
  auto m3 = test::random_model(q3);
  expect_fast_matches_tensor_path(m3, "qk norm, sliding window");
  auto g = test::random_model(gemma_config());
  expect_fast_matches_tensor_path(g, "gemma 3");
  auto l3 = test::tiny_config();
  l3.rope_scaling.type = llm::RopeScaling::Type::kDynamic;
  l3.rope_scaling.factor = 2.0;
  l3.max_position_embeddings = 6;  // the decode passes it: the base grows
  auto md = test::random_model(l3);
  expect_fast_matches_tensor_path(md, "dynamic rope");
}

TEST(DecodeStep, RunsTheLayerHookAndPackedWeights) {
  auto m = test::random_model(test::tiny_config());
  int calls = 0;
  m->set_layer_hook([&](int64_t layer, const torch::Tensor& h) {
    ++calls;
    return h * (1.0 + 0.1 * double(layer)) + 0.05;
  });
  expect_fast_matches_tensor_path(m, "hook");
  EXPECT_GT(calls, 0);
  for (auto f : {llm::WeightFormat::kBF16, llm::WeightFormat::kInt8}) {
    auto p = test::random_model(test::tiny_config(true));
    p->pack_weights(f);
    expect_fast_matches_tensor_path(p, llm::name(f));
  }
}

TEST(DecodeStep, RefusesPositionsPastTheContext) {
  auto c = test::tiny_config();
  c.max_position_embeddings = 4;
  auto m = test::random_model(c);
  torch::NoGradGuard no_grad;
  llm::KVCache cache(c, 1, 8, torch::kCPU);
  m->forward(torch::tensor({{1, 2, 3, 4}}, torch::kLong), &cache);
  EXPECT_THROW(m->forward(torch::tensor({{5}}, torch::kLong), &cache), std::exception);
}
