// Linear probe: multinomial logistic regression from user vectors to a label
// (e.g. the synthetic generator's true current favourite genre), trained on a
// random split of the users and scored on the rest, beside the majority-class rate.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace userllm::encoder {

struct ProbeOptions {
  double test_fraction = 0.2;
  uint64_t seed = 1;
  int steps = 300;  // full-batch Adam steps
  double lr = 0.05, weight_decay = 1e-3;
};

struct ProbeResult {
  double train_accuracy = 0, test_accuracy = 0;
  double majority_rate = 0;  // test accuracy of always predicting the commonest train label
  int64_t train_users = 0, test_users = 0, classes = 0;
};

// x [N, D] float, labels N values in [0, classes).
ProbeResult linear_probe(const torch::Tensor& x, const std::vector<int64_t>& labels, const ProbeOptions& o);

}  // namespace userllm::encoder
