// What every trainer shares about time: the learning-rate schedule (linear
// warmup, then cosine decay to min_lr_ratio * lr at the last step) and the
// order in which examples are visited.
#pragma once
#include <cstdint>
#include <vector>

namespace userllm {

// step is 0-based; warmup < 0 means min(total / 10, 200).
double warmup_cosine_lr(double lr, double min_lr_ratio, int64_t warmup, int64_t step, int64_t total);

// The indices (of n examples) in optimiser step `step`: epoch e visits a
// permutation drawn from (seed, e). A function of (seed, step) only, so a
// resumed run sees exactly the batches an uninterrupted one would.
std::vector<int64_t> batch_indices(int64_t n, int64_t step, int64_t batch_size, uint64_t seed);

}  // namespace userllm
