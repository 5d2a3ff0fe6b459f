// A linear layer that can carry a LoRA adapter (Hu et al. 2021):
// y = x W^T + b + (alpha / r) * B(A(dropout(x))). Every projection in the
// decoder is one of these, so an adapter can be put on any of them without
// changing the model's parameter names (q_proj.weight stays q_proj.weight;
// the adapter adds q_proj.lora_A.weight and q_proj.lora_B.weight, as PEFT does).
#pragma once
#include <torch/nn.h>

#include "llm/packed_weight.h"

namespace userllm::llm {

// While one is alive on this thread, new projections and embeddings allocate
// their weights uninitialised: a loader that overwrites every parameter then
// never touches, so never makes resident, the memory it replaces.
class UninitializedGuard {
 public:
  UninitializedGuard() : prev_(active_) { active_ = true; }
  ~UninitializedGuard() { active_ = prev_; }
  UninitializedGuard(const UninitializedGuard&) = delete;
  UninitializedGuard& operator=(const UninitializedGuard&) = delete;
  static bool active() { return active_; }

 private:
  bool prev_;
  static thread_local bool active_;
};

class ProjectionImpl : public torch::nn::Module {
 public:
  ProjectionImpl(int64_t in_features, int64_t out_features, bool bias);
  torch::Tensor forward(const torch::Tensor& x);

  // Adds a fresh adapter: A random (Kaiming-uniform), B zero, so the output is unchanged.
  void enable_lora(int64_t rank, double alpha, double dropout);
  bool has_lora() const { return !lora_A.is_empty(); }
  // Folds the adapter into `weight` and removes it.
  void merge_lora();
  double lora_scale() const { return lora_scale_; }
  // Inference only: repacks `weight` for the decode kernels (bf16 or int8) and
  // frees the float copy, so `weight` is empty afterwards. kF32 is a no-op.
  void pack(WeightFormat format);
  const PackedWeight& packed() const { return packed_; }
  // Inference on raw float32 CPU rows, x [n, in] -> y [n, out], without LoRA
  // (the caller checks has_lora()): the decode step's path.
  void forward_rows(const float* x, int64_t n, float* y);
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

  torch::Tensor weight, bias;
  torch::nn::Linear lora_A{nullptr}, lora_B{nullptr};

 private:
  torch::nn::Dropout lora_dropout_{nullptr};
  double lora_scale_ = 0;
  int64_t in_, out_;
  PackedWeight packed_;
};
TORCH_MODULE(Projection);

}  // namespace userllm::llm
