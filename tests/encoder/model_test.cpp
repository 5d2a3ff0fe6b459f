// The user encoder model on random inputs: causality and padding, incremental
// encoding equal to a full re-encode, and finite-difference gradient checks of
// the fusion layers and the sampled softmax (double precision).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "encoder/loss.h"
#include "encoder/user_encoder.h"

namespace enc = userllm::encoder;

namespace {

enc::EncoderOptions tiny(enc::Fusion fusion, int max_len = 16) {
  enc::EncoderOptions o;
  o.fields = {{"item", 40, 12}, {"genre", 7, 4}, {"rating", 12, 4}};
  o.fusion = fusion;
  o.layers = 2;
  o.heads = 2;
  o.dim = 16;
  o.ffn_mult = 2;
  o.max_len = max_len;
  o.dropout = 0.0;
  return o;
}

torch::Tensor random_tokens(const enc::EncoderOptions& o, int64_t B, int64_t T) {
  std::vector<torch::Tensor> cols;
  for (const auto& f : o.fields) cols.push_back(torch::randint(2, f.vocab, {B, T, 1}, torch::kLong));
  return torch::cat(cols, 2);
}

class ModelTest : public ::testing::TestWithParam<enc::Fusion> {};

TEST_P(ModelTest, CausalAndIgnoresPadding) {
  torch::manual_seed(1);
  auto o = tiny(GetParam());
  enc::UserEncoder m(o);
  m->eval();
  auto tok = random_tokens(o, 2, 10);
  auto valid = torch::ones({2, 10}, torch::kBool);
  auto full = m(tok, valid);
  ASSERT_EQ(full.sizes(), (std::vector<int64_t>{2, 10, o.dim}));
  // Row 1 keeps only 6 events; its padding holds garbage ids that must not matter.
  auto valid2 = valid.clone();
  valid2[1].narrow(0, 6, 4).fill_(false);
  auto tok2 = tok.clone();
  tok2[1].narrow(0, 6, 4).fill_(3);
  auto part = m(tok2, valid2);
  EXPECT_TRUE(torch::allclose(part[0], full[0], 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(part[1].narrow(0, 0, 6), full[1].narrow(0, 0, 6), 1e-5, 1e-6));
  auto last = enc::gather_last(part, valid2);
  EXPECT_TRUE(torch::allclose(last[1], full[1][5], 1e-5, 1e-6));
  // A later event changes later outputs only.
  auto tok3 = tok.clone();
  tok3[0][7][0] = tok[0][7][0].item<int64_t>() == 2 ? 3 : 2;
  auto changed = m(tok3, valid);
  EXPECT_TRUE(torch::allclose(changed[0].narrow(0, 0, 7), full[0].narrow(0, 0, 7), 1e-5, 1e-6));
  EXPECT_FALSE(torch::allclose(changed[0][7], full[0][7], 1e-5, 1e-6));
}

TEST_P(ModelTest, IncrementalEqualsFullReencode) {
  torch::manual_seed(2);
  auto o = tiny(GetParam(), /*max_len=*/8);
  enc::UserEncoder m(o);
  m->eval();
  torch::NoGradGuard ng;
  const int64_t T = 21;  // beyond max_len: the sliding-window policy must agree too
  auto tok = random_tokens(o, 3, T);
  auto full = m(tok, torch::ones({3, T}, torch::kBool));
  enc::EncoderState state;
  for (int64_t t = 0; t < T; ++t) {
    auto h = m->step(tok.select(1, t), state);
    EXPECT_LT((h - full.select(1, t)).abs().max().item<double>(), 1e-5) << "event " << t;
  }
  EXPECT_EQ(state.length(), T);
  for (const auto& c : state.caches) EXPECT_EQ(c.k[0].size(2), 8);  // bounded by max_len
}

// Long histories go through the banded attention (query blocks of max_len):
// a padded batch of 45 events against one event at a time, per row.
TEST_P(ModelTest, BandedForwardOfALongPaddedBatchEqualsSteps) {
  torch::manual_seed(4);
  auto o = tiny(GetParam(), /*max_len=*/8);
  enc::UserEncoder m(o);
  m->eval();
  torch::NoGradGuard ng;
  const int64_t T = 45, short_len = 30;
  auto tok = random_tokens(o, 2, T);
  auto valid = torch::ones({2, T}, torch::kBool);
  valid[1].narrow(0, short_len, T - short_len).fill_(false);
  auto full = m(tok, valid);
  for (int64_t row = 0; row < 2; ++row) {
    enc::EncoderState state;
    const int64_t n = row == 0 ? T : short_len;
    for (int64_t t = 0; t < n; ++t) {
      auto h = m->step(tok[row].select(0, t).unsqueeze(0), state);
      ASSERT_LT((h[0] - full[row][t]).abs().max().item<double>(), 1e-5) << "row " << row << " event " << t;
    }
  }
  EXPECT_TRUE(torch::isfinite(full).all().item<bool>());  // padding rows stay finite
}

INSTANTIATE_TEST_SUITE_P(Fusions, ModelTest, ::testing::Values(enc::Fusion::kEarly, enc::Fusion::kLate),
                         [](const auto& info) { return std::string(enc::fusion_name(info.param)); });

// Central differences of a scalar function against autograd, for a few entries of p.
void check_gradient(const std::function<torch::Tensor()>& loss, torch::Tensor p, int entries) {
  auto l = loss();
  auto g = torch::autograd::grad({l}, {p})[0];
  auto flat = p.data().view(-1);
  auto gflat = g.view(-1);
  const double eps = 1e-6;
  for (int i = 0; i < entries; ++i) {
    int64_t k = (i * 7919) % flat.numel();
    double orig = flat[k].item<double>();
    double up, down;
    {
      torch::NoGradGuard ng;
      flat[k] = orig + eps;
      up = loss().item<double>();
      flat[k] = orig - eps;
      down = loss().item<double>();
      flat[k] = orig;
    }
    double fd = (up - down) / (2 * eps);
    EXPECT_NEAR(gflat[k].item<double>(), fd, 1e-6 + 1e-5 * std::abs(fd)) << "entry " << k;
  }
}

TEST_P(ModelTest, FusionGradientMatchesFiniteDifferences) {
  torch::manual_seed(3);
  auto o = tiny(GetParam());
  enc::UserEncoder m(o);
  m->to(torch::kDouble);
  m->eval();
  auto tok = random_tokens(o, 2, 6);
  auto valid = torch::ones({2, 6}, torch::kBool);
  valid[1][5] = false;
  auto targets = random_tokens(o, 2, 6);
  enc::LossOptions lo;
  auto loss = [&] { return enc::next_event_loss(m, m(tok, valid), targets, lo).total; };
  auto params = m->named_parameters();
  std::vector<std::string> names;
  if (GetParam() == enc::Fusion::kEarly)
    names = {"in_proj.weight", "embed.table_genre.weight", "head_rating.weight"};
  else
    names = {"combine.weight", "in_genre.weight", "stream_rating.blocks.0.attn.qkv.weight"};
  for (const auto& n : names) {
    SCOPED_TRACE(n);
    ASSERT_TRUE(params.contains(n));
    check_gradient(loss, params[n], 6);
  }
}

TEST(SampledSoftmax, GradientMatchesFiniteDifferences) {
  torch::manual_seed(4);
  auto opt = torch::TensorOptions().dtype(torch::kDouble);
  auto query = torch::randn({5, 3}, opt).requires_grad_(true);
  auto table = torch::randn({20, 3}, opt).requires_grad_(true);
  auto bias = torch::randn({20}, opt).requires_grad_(true);
  auto targets = torch::tensor({2, 5, 5, 9, 19}, torch::kLong);
  auto negatives = torch::tensor({3, 5, 7, 11, 2, 2, 17}, torch::kLong);  // includes accidental hits
  auto log_q = torch::log_softmax(torch::randn({20}, opt), 0);
  auto loss = [&] { return enc::sampled_softmax_loss(query, table, bias, targets, negatives, log_q); };
  check_gradient(loss, query, 15);
  check_gradient(loss, table, 30);
  check_gradient(loss, bias, 20);
}

TEST(SampledSoftmax, AllNegativesWithUniformProposalIsFullSoftmax) {
  torch::manual_seed(5);
  auto opt = torch::TensorOptions().dtype(torch::kDouble);
  auto query = torch::randn({4, 3}, opt);
  auto table = torch::randn({10, 3}, opt);
  auto bias = torch::randn({10}, opt);
  auto targets = torch::tensor({0, 3, 3, 9}, torch::kLong);
  auto uniform = torch::full({10}, -std::log(10.0), opt);
  auto all = torch::arange(10, torch::kLong);  // every item once: the target itself is masked
  auto sampled = enc::sampled_softmax_loss(query, table, bias, targets, all, uniform).item<double>();
  auto full = torch::nn::functional::cross_entropy(torch::matmul(query, table.t()) + bias, targets).item<double>();
  EXPECT_NEAR(sampled, full, 1e-12);
  // A non-uniform proposal changes the estimate: the correction is really applied.
  auto skewed = torch::log_softmax(torch::arange(10, opt), 0);
  EXPECT_GT(std::abs(enc::sampled_softmax_loss(query, table, bias, targets, all, skewed).item<double>() - full), 1e-3);
}

}  // namespace
