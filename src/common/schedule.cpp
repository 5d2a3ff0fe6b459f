#include "common/schedule.h"

#include <algorithm>
#include <cmath>

namespace userllm {

double warmup_cosine_lr(double lr, double min_lr_ratio, int64_t warmup, int64_t step, int64_t total) {
  if (warmup < 0) warmup = std::min<int64_t>(total / 10, 200);
  if (step < warmup) return lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
  const double span = static_cast<double>(std::max<int64_t>(total - warmup, 1));
  const double progress = std::min(1.0, static_cast<double>(step - warmup) / span);
  const double min_lr = lr * min_lr_ratio;
  return min_lr + (lr - min_lr) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

}  // namespace userllm
