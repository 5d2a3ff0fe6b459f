// The decode kernels against libtorch on random shapes, odd sizes included,
// for every instruction set this CPU runs; packed models against float32.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <vector>

#include "llm/checkpoint.h"
#include "llm/generate.h"
#include "llm/kernels.h"
#include "llm/packed_weight.h"
#include "llm_test_util.h"
#include "stories_golden.h"
#include "test_util.h"

using namespace userllm;
namespace k = userllm::llm::kernels;

namespace {

std::vector<k::Isa> isas() {
  std::vector<k::Isa> v{k::Isa::kPortable};
  if (k::best_isa() == k::Isa::kAvx2) v.push_back(k::Isa::kAvx2);
  return v;
}

struct Shape {
  int64_t rows, cols, n;
};
const Shape kShapes[] = {{1, 1, 1}, {7, 13, 1}, {5, 31, 3}, {33, 64, 2}, {64, 100, 5}, {257, 768, 1}, {96, 2048, 9}};

torch::Tensor reference(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  return torch::linear(x.to(torch::kFloat64), w.to(torch::kFloat64), b.defined() ? b.to(torch::kFloat64) : b)
      .to(torch::kFloat32);
}

// Dequantised blocks back to float: int8 codes times their block's scale.
torch::Tensor dequant(const torch::Tensor& q, const torch::Tensor& s, int64_t cols) {
  const int64_t rows = q.size(0), nb = s.size(1);
  return (q.to(torch::kFloat32).view({rows, nb, k::kQ8Block}) * s.unsqueeze(-1)).view({rows, -1}).narrow(1, 0, cols);
}

}  // namespace

TEST(Kernels, GemvF32AndBf16MatchLinear) {
  torch::manual_seed(3);
  for (auto isa : isas())
    for (const auto& sh : kShapes)
      for (bool with_bias : {false, true}) {
        auto w = torch::randn({sh.rows, sh.cols});
        auto x = torch::randn({sh.n, sh.cols});
        auto b = with_bias ? torch::randn({sh.rows}) : torch::Tensor();
        auto y = torch::empty({sh.n, sh.rows});
        k::gemv_f32(w.data_ptr<float>(), sh.rows, sh.cols, x.data_ptr<float>(), sh.n,
                    with_bias ? b.data_ptr<float>() : nullptr, y.data_ptr<float>(), isa);
        const double tol = 1e-5 * std::sqrt(double(sh.cols)) + 1e-6;
        EXPECT_TRUE(torch::allclose(y, reference(x, w, b), tol, tol))
            << k::name(isa) << " f32 " << sh.rows << "x" << sh.cols << " n=" << sh.n;

        auto wb = w.to(torch::kBFloat16).contiguous();
        k::gemv_bf16(reinterpret_cast<const uint16_t*>(wb.data_ptr()), sh.rows, sh.cols, x.data_ptr<float>(), sh.n,
                     with_bias ? b.data_ptr<float>() : nullptr, y.data_ptr<float>(), isa);
        EXPECT_TRUE(torch::allclose(y, reference(x, wb.to(torch::kFloat32), b), tol, tol))
            << k::name(isa) << " bf16 " << sh.rows << "x" << sh.cols << " n=" << sh.n;
      }
}

TEST(Kernels, QuantizeQ8RoundTripsWithinHalfAStep) {
  torch::manual_seed(4);
  for (const auto& sh : kShapes) {
    auto w = torch::randn({sh.rows, sh.cols});
    w.index_put_({0}, 0.0f);  // an all-zero row: scale 0, codes 0
    const int64_t nb = k::q8_blocks(sh.cols);
    auto q = torch::full({sh.rows, nb * k::kQ8Block}, 99, torch::kInt8);
    auto s = torch::empty({sh.rows, nb});
    k::quantize_q8(w.data_ptr<float>(), sh.rows, sh.cols, q.data_ptr<int8_t>(), s.data_ptr<float>());
    EXPECT_LE(q.abs().max().item<int>(), 127);
    if (nb * k::kQ8Block > sh.cols) {  // padding is zero
      EXPECT_EQ(q.narrow(1, sh.cols, nb * k::kQ8Block - sh.cols).abs().max().item<int>(), 0);
    }
    auto err = (dequant(q, s, sh.cols) - w).abs();
    auto step = s.repeat_interleave(k::kQ8Block, 1).narrow(1, 0, sh.cols);
    EXPECT_TRUE((err <= step * 0.5 + 1e-7).all().item<bool>()) << sh.rows << "x" << sh.cols;
    EXPECT_EQ(s[0].abs().max().item<float>(), 0.0f);
  }
}

TEST(Kernels, GemvQ8IsTheExactDotOfTheQuantisedOperands) {
  torch::manual_seed(5);
  for (auto isa : isas())
    for (const auto& sh : kShapes)
      for (bool with_bias : {false, true}) {
        auto w = torch::randn({sh.rows, sh.cols});
        auto x = torch::randn({sh.n, sh.cols}) * 3;
        auto b = with_bias ? torch::randn({sh.rows}) : torch::Tensor();
        const int64_t nb = k::q8_blocks(sh.cols);
        auto wq = torch::empty({sh.rows, nb * k::kQ8Block}, torch::kInt8), ws = torch::empty({sh.rows, nb});
        auto xq = torch::empty({sh.n, nb * k::kQ8Block}, torch::kInt8), xs = torch::empty({sh.n, nb});
        k::quantize_q8(w.data_ptr<float>(), sh.rows, sh.cols, wq.data_ptr<int8_t>(), ws.data_ptr<float>());
        k::quantize_q8(x.data_ptr<float>(), sh.n, sh.cols, xq.data_ptr<int8_t>(), xs.data_ptr<float>());
        auto y = torch::empty({sh.n, sh.rows});
        k::gemv_q8(wq.data_ptr<int8_t>(), ws.data_ptr<float>(), sh.rows, sh.cols, x.data_ptr<float>(), sh.n,
                   with_bias ? b.data_ptr<float>() : nullptr, y.data_ptr<float>(), isa);
        auto want = reference(dequant(xq, xs, sh.cols), dequant(wq, ws, sh.cols), b);
        const double tol = 1e-5 * std::sqrt(double(sh.cols)) * 3 + 1e-5;
        EXPECT_TRUE(torch::allclose(y, want, tol, tol)) << k::name(isa) << " " << sh.rows << "x" << sh.cols;
        // And close to the float product: a block's step is 1/127 of its largest |value|.
        auto exact = reference(x, w, b);
        EXPECT_LT((y - exact).norm().item<double>(), 0.02 * exact.norm().item<double>() + 1e-4);
      }
}

TEST(PackedWeight, MatmulRowsAtAndLinearMatchTorch) {
  torch::manual_seed(6);
  torch::NoGradGuard no_grad;
  auto w = torch::randn({37, 45});
  auto b = torch::randn({37});
  auto ids = torch::tensor({{3, 0}, {36, 5}}, torch::kLong);
  for (auto f : {llm::WeightFormat::kF32, llm::WeightFormat::kBF16, llm::WeightFormat::kInt8}) {
    llm::PackedWeight p(w, f);
    auto deq = p.dequantize();
    auto max_err = (deq - w).abs().max().item<double>();
    EXPECT_LT(max_err, f == llm::WeightFormat::kF32 ? 1e-12 : 0.05) << llm::name(f);
    for (auto shape : {std::vector<int64_t>{45}, {1, 45}, {1, 1, 45}, {3, 2, 45}}) {
      auto x = torch::randn(shape);
      auto want = torch::linear(x, deq, b);
      if (f == llm::WeightFormat::kInt8) want = torch::linear(x, w, b);  // x is quantised too
      auto got = p.matmul(x, b);
      ASSERT_EQ(got.sizes(), want.sizes());
      EXPECT_TRUE(torch::allclose(got, want, 0.1, f == llm::WeightFormat::kInt8 ? 0.3 : 1e-4)) << llm::name(f);
    }
    EXPECT_TRUE(torch::allclose(p.rows_at(ids), deq.index_select(0, ids.view(-1)).view({2, 2, 45})));
  }
  EXPECT_EQ(llm::PackedWeight(w, llm::WeightFormat::kInt8).bytes(), 37 * 64 + 37 * 2 * 4);
  // The automatic gemv path (few rows, no autograd) and sgemm agree.
  for (auto shape : {std::vector<int64_t>{45}, {1, 1, 45}, {8, 45}, {9, 45}}) {
    auto x = torch::randn(shape);
    EXPECT_TRUE(torch::allclose(llm::gemv_or_linear(x, w, b), torch::linear(x, w, b), 1e-5, 1e-5));
  }
}

TEST(PackedWeight, ParsesFormatsAndRejectsOthers) {
  EXPECT_EQ(llm::parse_weight_format("int8"), llm::WeightFormat::kInt8);
  EXPECT_EQ(llm::parse_weight_format("bf16"), llm::WeightFormat::kBF16);
  EXPECT_EQ(llm::parse_weight_format("f32"), llm::WeightFormat::kF32);
  EXPECT_THROW(llm::parse_weight_format("q4"), std::exception);
}

// A packed model decodes like the float32 one: logits close, greedy tokens mostly equal.
TEST(PackedWeight, PackedModelsTrackFloat32) {
  for (bool tied : {false, true}) {
    auto c = test::tiny_config(tied);
    c.hidden_size = 64;
    c.intermediate_size = 96;
    c.vocab_size = 50;
    auto ref = test::random_model(c, 7);
    torch::NoGradGuard no_grad;
    auto ids = torch::tensor({{1, 4, 9, 16, 25, 36, 49, 2}}, torch::kLong);
    auto want = ref->forward(ids);
    for (auto f : {llm::WeightFormat::kBF16, llm::WeightFormat::kInt8}) {
      auto m = test::random_model(c, 7);
      m->pack_weights(f);
      EXPECT_EQ(m->weight_format(), f);
      auto got = m->forward(ids);
      const double rel = (got - want).norm().item<double>() / want.norm().item<double>();
      // Every parameter is N(0, 0.25) here, norms included, so errors compound
      // more than in a trained model (see StoriesInt8 below for a real one).
      EXPECT_LT(rel, f == llm::WeightFormat::kBF16 ? 0.05 : 0.15) << llm::name(f) << " tied " << tied;
      // Decode with the cache (one row per step: the kernel path) matches the full forward.
      llm::GenerateOptions g;
      g.max_new_tokens = 6;
      auto one = llm::generate(m, {{1, 4, 9}}, g);
      ASSERT_EQ(one[0].size(), 6u);
      g.use_cache = false;
      EXPECT_EQ(llm::generate(m, {{1, 4, 9}}, g), one) << llm::name(f);
      torch::GradMode::set_enabled(true);
      EXPECT_THROW(m->forward(ids), std::exception);  // inference-only
      torch::GradMode::set_enabled(false);
    }
  }
}

// The accuracy bar on a real model: along F32's greedy run (run.c's
// golden), the packed model's top-1 token agrees at >= 99% of positions.
TEST(PackedWeight, Stories260KTop1AgreesWithFloat32) {
  USERLLM_SHARED_OR_SKIP(dir, "models/stories260K");
  torch::NoGradGuard no_grad;
  auto g = test::read_stories_golden((dir / "golden" / "lily_t0_n128.tokens.txt").string());
  ASSERT_FALSE(g.fed.empty());
  std::vector<int64_t> seq{g.prompt[0]};
  seq.insert(seq.end(), g.fed.begin(), g.fed.end());
  auto ids = torch::tensor(seq, torch::kLong).unsqueeze(0);
  auto ref = llm::load_model(dir / "stories260K.bin");
  auto want = ref->forward(ids).argmax(-1);
  for (auto f : {llm::WeightFormat::kBF16, llm::WeightFormat::kInt8}) {
    auto m = llm::load_model(dir / "stories260K.bin");
    m->pack_weights(f);
    const double agree = m->forward(ids).argmax(-1).eq(want).to(torch::kDouble).mean().item<double>();
    EXPECT_GE(agree, 0.99) << llm::name(f) << " agrees at " << agree * 100 << "% of " << seq.size() << " positions";
  }
}
