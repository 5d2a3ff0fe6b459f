// Greedy generation on the real stories260K model against llama2.c's run.c.
#include <gtest/gtest.h>

#include "common/atomic_file.h"
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

// End to end through the CLI with llama2.c's tokenizer: byte-identical to run.c's stdout,
// from the .bin and from the converted Hugging Face directory.
TEST(Stories260K, CliGeneratesTheGoldenText) {
  USERLLM_SHARED_OR_SKIP(dir, "models/stories260K");
  test::ScratchDir tmp;
  const std::string bin = (dir / "stories260K.bin").string(), tok = (dir / "tok512.bin").string();
  auto conv = test::run_cli("-q lm convert --input '" + bin + "' --tokenizer '" + tok + "' --out '" + (tmp / "hf").string() + "'");
  ASSERT_EQ(conv.exit_code, 0) << conv.output;
  const std::pair<const char*, const char*> cases[] = {{"Once upon a time", "once_upon_a_time_t0_n64"},
                                                       {"Lily", "lily_t0_n128"}};
  for (const auto& [prompt, name] : cases) {
    auto g = test::read_stories_golden((dir / "golden" / (std::string(name) + ".tokens.txt")).string());
    const std::string n = std::to_string(g.steps() + 1 - int64_t(g.prompt.size()));
    std::string want = read_file(dir / "golden" / (std::string(name) + ".txt"));
    auto a = test::run_cli("-q lm generate --model '" + bin + "' --tokenizer '" + tok + "' --prompt '" + prompt +
                           "' --max-new-tokens " + n);
    EXPECT_EQ(a.exit_code, 0);
    EXPECT_EQ(a.output, want);
    auto b = test::run_cli("-q lm generate --model '" + (tmp / "hf").string() + "' --prompt '" + prompt +
                           "' --max-new-tokens " + n);
    EXPECT_EQ(b.output, want);
  }
  auto bad = test::run_cli("lm generate --model '" + (tmp / "absent").string() + "' --prompt x");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("no such model"), std::string::npos) << bad.output;

  // A prompt longer than the context: one error line, and nothing on stdout (the prompt is not echoed first).
  std::string words;
  for (int i = 0; i < 700; ++i) words += "cat ";
  auto r = test::run_shell("{ " + std::string(USERLLM_CLI) + " lm generate --model '" + bin + "' --tokenizer '" + tok +
                           "' --prompt '" + words + "' 2>/dev/null; }");  // stdout alone
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.output, "");
  auto e = test::run_cli("lm generate --model '" + bin + "' --tokenizer '" + tok + "' --prompt '" + words + "'");
  EXPECT_NE(e.output.find("do not fit the model's context of 512"), std::string::npos) << e.output;
}

}  // namespace
}  // namespace userllm::llm
