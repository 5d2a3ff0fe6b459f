// The learning-rate schedule every trainer uses: linear warmup, then cosine
// decay to min_lr_ratio * lr at the last step.
#pragma once
#include <cstdint>

namespace userllm {

// step is 0-based; warmup < 0 means min(total / 10, 200).
double warmup_cosine_lr(double lr, double min_lr_ratio, int64_t warmup, int64_t step, int64_t total);

}  // namespace userllm
