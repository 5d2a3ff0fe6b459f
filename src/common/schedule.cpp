#include "common/schedule.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace userllm {

double warmup_cosine_lr(double lr, double min_lr_ratio, int64_t warmup, int64_t step, int64_t total) {
  if (warmup < 0) warmup = std::min<int64_t>(total / 10, 200);
  if (step < warmup) return lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
  const double span = static_cast<double>(std::max<int64_t>(total - warmup, 1));
  const double progress = std::min(1.0, static_cast<double>(step - warmup) / span);
  const double min_lr = lr * min_lr_ratio;
  return min_lr + (lr - min_lr) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

std::vector<int64_t> batch_indices(int64_t n, int64_t step, int64_t batch_size, uint64_t seed) {
  const int64_t per_epoch = (n + batch_size - 1) / batch_size;
  const int64_t epoch = step / per_epoch, first = (step % per_epoch) * batch_size;
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed * 1000003ULL + static_cast<uint64_t>(epoch));
  std::shuffle(order.begin(), order.end(), rng);
  return std::vector<int64_t>(order.begin() + first, order.begin() + std::min(n, first + batch_size));
}

}  // namespace userllm
