// Metrics on hand-computed cases.
#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"
#include "eval/metrics.h"

using namespace userllm;

TEST(Metrics, HitRecallNdcg) {
  std::vector<int64_t> ranked{5, 3, 9, 3, 7};
  EXPECT_EQ(eval::hit_at_k(ranked, 3, 1), 0.0);
  EXPECT_EQ(eval::hit_at_k(ranked, 3, 2), 1.0);
  EXPECT_EQ(eval::hit_at_k(ranked, 8, 100), 0.0);
  EXPECT_EQ(eval::hit_at_k(ranked, 5, 0), 0.0);
  EXPECT_DOUBLE_EQ(eval::recall_at_k(ranked, {3, 7, 11}, 4), 1.0 / 3.0);  // 3 once, 7 beyond k
  EXPECT_DOUBLE_EQ(eval::recall_at_k(ranked, {3, 7, 11}, 5), 2.0 / 3.0);
  EXPECT_EQ(eval::recall_at_k(ranked, {}, 5), 0.0);
  EXPECT_DOUBLE_EQ(eval::ndcg_at_k(ranked, 5, 10), 1.0);
  EXPECT_NEAR(eval::ndcg_at_k(ranked, 9, 10), 0.5, 1e-12);              // rank 2: 1/log2(4)
  EXPECT_NEAR(eval::ndcg_at_k(ranked, 3, 10), 0.6309297535714574, 1e-12);  // rank 1: 1/log2(3)
  EXPECT_EQ(eval::ndcg_at_k(ranked, 9, 2), 0.0);
}

TEST(Metrics, Accuracy) {
  EXPECT_DOUBLE_EQ(eval::accuracy({1, 2, 3, 4}, {1, 0, 3, 0}), 0.5);
  EXPECT_THROW(eval::accuracy({1}, {1, 2}), Error);
  EXPECT_THROW(eval::accuracy({}, {}), Error);
}

TEST(Metrics, RougeL) {
  EXPECT_EQ(eval::rouge_tokens("  The CAT\tsat\n"), (std::vector<std::string>{"the", "cat", "sat"}));
  // LCS "the cat on the mat" = 5 of 6 tokens on both sides.
  EXPECT_NEAR(eval::rouge_l_f1("the cat sat on the mat", "The cat is on the mat"), 5.0 / 6.0, 1e-12);
  // LCS "a c e" = 3: P = 3/5, R = 3/4, F1 = 2 * 0.6 * 0.75 / 1.35 = 2/3.
  EXPECT_NEAR(eval::rouge_l_f1("a b c d e", "a x c e"), 2.0 / 3.0, 1e-12);
  // Order matters: LCS of "c b a" and "a b c" is 1: P = R = 1/3.
  EXPECT_NEAR(eval::rouge_l_f1("c b a", "a b c"), 1.0 / 3.0, 1e-12);
  EXPECT_EQ(eval::rouge_l_f1("", "a"), 0.0);
  EXPECT_EQ(eval::rouge_l_f1("x y", "a b"), 0.0);
  EXPECT_EQ(eval::rouge_l_f1("Great product", "great PRODUCT"), 1.0);
}

TEST(Metrics, MeanAndStandardError) {
  auto s = eval::mean_stat({1, 2, 3, 4});
  EXPECT_EQ(s.n, 4);
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
  EXPECT_NEAR(s.std_error, std::sqrt(5.0 / 3.0) / 2.0, 1e-12);
  auto one = eval::mean_stat({7});
  EXPECT_EQ(one.mean, 7);
  EXPECT_EQ(one.std_error, 0);
  EXPECT_EQ(eval::mean_stat({}).n, 0);
}
