// bf16 mixed precision: matmuls in bfloat16 inside the scope, float32 weights,
// gradients and results outside it, and a training step close to fp32's.
#include <gtest/gtest.h>

#include "common/error.h"
#include "llm/init.h"
#include "llm/precision.h"
#include "llm_test_util.h"

namespace userllm::llm {
namespace {

TEST(Precision, AutocastOnlyInsideTheScope) {
  auto x = torch::randn({4, 8}), w = torch::randn({3, 8});
  {
    MixedPrecision bf16(Precision::kBf16, torch::kCPU);
    EXPECT_EQ(torch::linear(x, w).scalar_type(), torch::kBFloat16);
    {
      MixedPrecision nested(Precision::kBf16, torch::kCPU);
      EXPECT_EQ(torch::matmul(x, w.t()).scalar_type(), torch::kBFloat16);
    }
    EXPECT_EQ(torch::linear(x, w).scalar_type(), torch::kBFloat16);  // the inner scope kept the outer one on
  }
  EXPECT_EQ(torch::linear(x, w).scalar_type(), torch::kFloat32);
  {
    MixedPrecision fp32(Precision::kFp32, torch::kCPU);
    EXPECT_EQ(torch::linear(x, w).scalar_type(), torch::kFloat32);
  }
  EXPECT_EQ(parse_precision("bf16"), Precision::kBf16);
  EXPECT_THROW(parse_precision("fp16"), Error);
}

TEST(Precision, Bf16StepKeepsFp32MasterWeightsAndTracksFp32) {
  auto c = test::tiny_config();
  torch::manual_seed(4);
  auto ids = torch::randint(0, c.vocab_size, {4, 17});
  std::vector<double> losses;
  std::vector<torch::Tensor> after;  // all gradients, flattened
  for (Precision p : {Precision::kFp32, Precision::kBf16}) {
    torch::manual_seed(5);
    LlamaForCausalLM m(c);
    init_weights(*m, InitOptions{0.2, false});
    torch::optim::AdamW opt(m->parameters(), torch::optim::AdamWOptions(1e-2));
    torch::Tensor logits;
    {
      MixedPrecision autocast(p, torch::kCPU);
      logits = m->forward(ids.narrow(1, 0, 16));
    }
    EXPECT_EQ(logits.scalar_type(), p == Precision::kBf16 ? torch::kBFloat16 : torch::kFloat32);
    auto loss = torch::nn::functional::cross_entropy(logits.to(torch::kFloat32).reshape({-1, c.vocab_size}),
                                                     ids.narrow(1, 1, 16).reshape({-1}));
    loss.backward();
    for (auto& param : m->parameters()) {
      EXPECT_EQ(param.scalar_type(), torch::kFloat32);
      ASSERT_TRUE(param.grad().defined());
      EXPECT_EQ(param.grad().scalar_type(), torch::kFloat32);
    }
    losses.push_back(loss.item<double>());
    std::vector<torch::Tensor> grads;
    for (auto& param : m->parameters()) grads.push_back(param.grad().reshape({-1}));
    after.push_back(torch::cat(grads));
    opt.step();
  }
  EXPECT_NEAR(losses[0], losses[1], 0.02 * losses[0]);  // bf16 keeps ~3 significant digits
  // The gradient points the same way (Adam's first step is sign-like, so compare gradients, not weights).
  const double cosine = (after[0] * after[1]).sum().item<double>() / (after[0].norm() * after[1].norm()).item<double>();
  EXPECT_GT(cosine, 0.99);
}

}  // namespace
}  // namespace userllm::llm
