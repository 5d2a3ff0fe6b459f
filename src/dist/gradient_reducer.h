// Sums gradients over the ranks while backward still runs, as DDP's Reducer does:
// parameters are packed into buckets in reverse order (the order autograd produces
// their gradients), each bucket's sum starts as soon as its last gradient arrives,
// and buckets start in the same order on every rank, which Gloo and NCCL need.
#pragma once
#include <cstddef>
#include <memory>
#include <vector>

#include <torch/types.h>

#include "dist/world.h"

namespace userllm::dist {

class GradientReducer {
 public:
  // Nothing is hooked when the world is one process.
  GradientReducer(World& world, std::vector<torch::Tensor> params, size_t bucket_bytes = size_t(25) << 20);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // After backward: sends what backward did not reach (a parameter unused on this rank
  // counts as zero), waits for every bucket and leaves each parameter's .grad holding
  // the sum over ranks. A parameter no rank used keeps its gradient as it was.
  void finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace userllm::dist
