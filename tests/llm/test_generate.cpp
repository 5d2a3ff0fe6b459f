// Greedy generation on the real stories260K model against llama2.c's run.c.
#include <gtest/gtest.h>

#include "llm/checkpoint.h"
#include "llm/generate.h"
#include "stories_golden.h"
#include "test_util.h"

namespace userllm::llm {
namespace {

const char* kGoldens[] = {"once_upon_a_time_t0_n64", "lily_t0_n128"};

// run.c feeds the prompt, then greedy ids, until -n positions or a BOS (id 1).
void expect_matches_golden(LlamaForCausalLM& model, const test::StoriesGolden& g) {
  ASSERT_EQ(g.logits.size(), 8u);
  ASSERT_FALSE(g.prompt.empty());
  torch::NoGradGuard no_grad;
  auto ids = torch::tensor(g.prompt, torch::kLong).unsqueeze(0);
  auto logits = model->forward(ids)[0][g.logits_pos];
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(logits[i].item<float>(), g.logits[size_t(i)], 1e-4) << "logit " << i;

  GenerateOptions opts;
  opts.max_new_tokens = g.steps() + 1 - int64_t(g.prompt.size());
  opts.stop_tokens = {1};
  auto out = generate(model, {g.prompt}, opts)[0];
  std::vector<int64_t> fed(g.prompt.begin() + 1, g.prompt.end());
  fed.insert(fed.end(), out.begin(), out.end());
  EXPECT_EQ(fed, g.fed);
}

TEST(Stories260K, GreedyMatchesLlama2cGoldens) {
  USERLLM_SHARED_OR_SKIP(dir, "models/stories260K");
  auto model = load_model(dir / "stories260K.bin");
  EXPECT_EQ(model->config().num_kv_heads, 4);
  EXPECT_TRUE(model->config().tie_word_embeddings);
  for (const char* name : kGoldens) {
    SCOPED_TRACE(name);
    expect_matches_golden(model, test::read_stories_golden((dir / "golden" / (std::string(name) + ".tokens.txt")).string()));
  }
}

TEST(Stories260K, ConvertedHfModelGivesTheSameTokens) {
  USERLLM_SHARED_OR_SKIP(dir, "models/stories260K");
  test::ScratchDir tmp;
  {
    auto model = load_model(dir / "stories260K.bin");
    save_hf_model(model, tmp.path());
  }
  auto model = load_model(tmp.path());
  for (const char* name : kGoldens) {
    SCOPED_TRACE(name);
    expect_matches_golden(model, test::read_stories_golden((dir / "golden" / (std::string(name) + ".tokens.txt")).string()));
  }
}

}  // namespace
}  // namespace userllm::llm
