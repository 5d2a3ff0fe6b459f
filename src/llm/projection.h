// A linear layer that can carry a LoRA adapter (Hu et al. 2021):
// y = x W^T + b + (alpha / r) * B(A(dropout(x))). Every projection in the
// decoder is one of these, so an adapter can be put on any of them without
// changing the model's parameter names (q_proj.weight stays q_proj.weight;
// the adapter adds q_proj.lora_A.weight and q_proj.lora_B.weight, as PEFT does).
#pragma once
#include <torch/nn.h>

namespace userllm::llm {

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

  torch::Tensor weight, bias;
  torch::nn::Linear lora_A{nullptr}, lora_B{nullptr};

 private:
  torch::nn::Dropout lora_dropout_{nullptr};
  double lora_scale_ = 0;
};
TORCH_MODULE(Projection);

}  // namespace userllm::llm
