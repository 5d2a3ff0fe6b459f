#include "encoder/probe.h"

#include <torch/nn.h>
#include <torch/optim.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "common/error.h"

namespace userllm::encoder {

ProbeResult linear_probe(const torch::Tensor& x, const std::vector<int64_t>& labels, const ProbeOptions& o) {
  const int64_t N = x.size(0);
  if (N != static_cast<int64_t>(labels.size())) fail("probe: one label per user expected");
  if (N < 10) fail("probe: need at least 10 users, got " + std::to_string(N));
  ProbeResult r;
  r.classes = *std::max_element(labels.begin(), labels.end()) + 1;

  std::vector<int64_t> order(N);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(o.seed);
  std::shuffle(order.begin(), order.end(), rng);
  const int64_t n_test = std::max<int64_t>(1, static_cast<int64_t>(N * o.test_fraction));
  auto idx = torch::tensor(order, torch::kLong);
  auto test_idx = idx.narrow(0, 0, n_test), train_idx = idx.narrow(0, n_test, N - n_test);
  auto y = torch::tensor(labels, torch::kLong);
  auto xf = x.to(torch::kCPU, torch::kFloat);
  auto x_train = xf.index_select(0, train_idx), x_test = xf.index_select(0, test_idx);
  auto y_train = y.index_select(0, train_idx), y_test = y.index_select(0, test_idx);
  r.train_users = N - n_test;
  r.test_users = n_test;

  // Standardise with train statistics only.
  auto mean = x_train.mean(0), sd = x_train.std(0).clamp_min(1e-6);
  x_train = (x_train - mean) / sd;
  x_test = (x_test - mean) / sd;

  torch::manual_seed(o.seed);
  torch::nn::Linear lin(x.size(1), r.classes);
  torch::optim::Adam opt(lin->parameters(), torch::optim::AdamOptions(o.lr).weight_decay(o.weight_decay));
  for (int s = 0; s < o.steps; ++s) {
    auto loss = torch::nn::functional::cross_entropy(lin(x_train), y_train);
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  torch::NoGradGuard ng;
  r.train_accuracy = lin(x_train).argmax(1).eq(y_train).to(torch::kDouble).mean().item<double>();
  r.test_accuracy = lin(x_test).argmax(1).eq(y_test).to(torch::kDouble).mean().item<double>();
  const int64_t majority = torch::bincount(y_train, {}, r.classes).argmax().item<int64_t>();
  r.majority_rate = y_test.eq(majority).to(torch::kDouble).mean().item<double>();
  return r;
}

}  // namespace userllm::encoder
