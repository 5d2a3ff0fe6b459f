// Sampling rules, seeds, stop tokens, and batched generation of uneven prompts.
#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"
#include "llm/generate.h"
#include "llm/sampling.h"
#include "llm_test_util.h"

namespace userllm::llm {
namespace {

const torch::Tensor kLogits = torch::tensor({1.0f, 3.0f, 2.0f, -1.0f, 3.0f, 0.5f});

TEST(Sampling, TemperatureTopKTopPDistributions) {
  SamplingParams p;
  p.temperature = 0.5f;
  auto d = Sampler(p).distribution(kLogits);
  double z = 0;
  for (int i = 0; i < 6; ++i) z += std::exp(kLogits[i].item<double>() / 0.5);
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(d[size_t(i)], std::exp(kLogits[i].item<double>() / 0.5) / z, 1e-6);

  p.temperature = 1.0f;
  p.top_k = 3;  // ids 1, 4 (logit 3) and 2 (logit 2)
  d = Sampler(p).distribution(kLogits);
  double z3 = 2 * std::exp(3.0) + std::exp(2.0);
  EXPECT_NEAR(d[1], std::exp(3.0) / z3, 1e-6);
  EXPECT_NEAR(d[2], std::exp(2.0) / z3, 1e-6);
  EXPECT_EQ(d[0] + d[3] + d[5], 0.0f);

  p.top_k = 0;
  p.top_p = 0.5f;  // the two logit-3 tokens hold ~0.62 of the mass; the first alone ~0.31
  d = Sampler(p).distribution(kLogits);
  EXPECT_NEAR(d[1], 0.5, 1e-6);
  EXPECT_NEAR(d[4], 0.5, 1e-6);
  EXPECT_EQ(d[2], 0.0f);

  p.temperature = 0;
  EXPECT_EQ(Sampler(p).sample(kLogits), 1);  // first of the tied maxima, as llama2.c's argmax
  p.top_p = 0;
  EXPECT_THROW(p.validate(), Error);
}

TEST(Sampling, SeedIsDeterministicAndFollowsTheDistribution) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.seed = 42;
  Sampler a(p), b(p);
  std::vector<int> counts(6, 0);
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    int64_t x = a.sample(kLogits);
    ASSERT_EQ(x, b.sample(kLogits));
    ++counts[size_t(x)];
  }
  auto d = a.distribution(kLogits);
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(double(counts[size_t(i)]) / n, d[size_t(i)], 0.015) << i;
  p.seed = 43;
  Sampler c(p);
  Sampler a2(SamplingParams{1.0f, 0, 1.0f, 42});
  int differ = 0;
  for (int i = 0; i < 50; ++i) differ += c.sample(kLogits) != a2.sample(kLogits);
  EXPECT_GT(differ, 0);
}

const std::vector<std::vector<int64_t>> kPrompts{{1, 4, 9, 16, 2, 8}, {1, 3}, {1, 20, 7, 7}};

TEST(Generate, BatchOfUnevenPromptsEqualsOneByOne) {
  auto m = test::random_model(test::tiny_config());
  for (float temperature : {0.0f, 0.9f}) {
    GenerateOptions opts;
    opts.max_new_tokens = 12;
    opts.sampling.temperature = temperature;
    opts.sampling.top_k = 10;
    opts.sampling.seed = 7;
    auto batch = generate(m, kPrompts, opts);
    ASSERT_EQ(batch.size(), 3u);
    for (size_t r = 0; r < kPrompts.size(); ++r) {
      auto single_opts = opts;
      single_opts.sampling.seed = opts.sampling.seed + r;  // row r's seed in the batch
      EXPECT_EQ(batch[r], generate(m, {kPrompts[r]}, single_opts)[0]) << "row " << r << " t=" << temperature;
      EXPECT_EQ(batch[r].size(), 12u);
    }
  }
}

TEST(Generate, CacheAndNoCacheAgree) {
  auto m = test::random_model(test::tiny_config());
  GenerateOptions opts;
  opts.max_new_tokens = 15;
  auto cached = generate(m, kPrompts, opts);
  opts.use_cache = false;
  EXPECT_EQ(cached, generate(m, kPrompts, opts));
}

TEST(Generate, StopTokensAndLengthLimits) {
  auto m = test::random_model(test::tiny_config());
  GenerateOptions opts;
  opts.max_new_tokens = 20;
  auto free_run = generate(m, {kPrompts[0]}, opts)[0];
  ASSERT_EQ(free_run.size(), 20u);
  opts.stop_tokens = {free_run[5]};
  auto stopped = generate(m, {kPrompts[0]}, opts)[0];
  auto first = std::find(free_run.begin(), free_run.end(), free_run[5]) - free_run.begin();
  EXPECT_EQ(stopped, std::vector<int64_t>(free_run.begin(), free_run.begin() + first));
  opts.stop_tokens.clear();
  opts.max_length = 9;  // prompt of 6 + 3
  EXPECT_EQ(generate(m, {kPrompts[0]}, opts)[0].size(), 3u);
  std::vector<int64_t> too_long(65, 1);
  EXPECT_THROW(generate(m, {too_long}, opts), Error);
  EXPECT_THROW(generate(m, {{}}, opts), Error);
  // Rows end at the context limit (64 positions) without overflowing the cache.
  opts.max_length = 0;
  opts.max_new_tokens = 100;
  auto out = generate(m, {std::vector<int64_t>(60, 1), {1}}, opts);
  EXPECT_EQ(out[0].size(), 4u);
  EXPECT_EQ(out[1].size(), 63u);
}

}  // namespace
}  // namespace userllm::llm
