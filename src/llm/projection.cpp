#include "llm/projection.h"

#include <cmath>

namespace userllm::llm {

ProjectionImpl::ProjectionImpl(int64_t in_features, int64_t out_features, bool with_bias) {
  weight = register_parameter("weight", torch::empty({out_features, in_features}));
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (with_bias) bias = register_parameter("bias", torch::zeros({out_features}));
}

torch::Tensor ProjectionImpl::forward(const torch::Tensor& x) {
  auto y = torch::linear(x, weight, bias);
  if (has_lora()) y = y + lora_B(lora_A(lora_dropout_(x))) * lora_scale_;
  return y;
}

void ProjectionImpl::enable_lora(int64_t rank, double alpha, double dropout) {
  TORCH_CHECK(!has_lora(), "LoRA already enabled on this layer");
  TORCH_CHECK(rank > 0, "LoRA rank must be positive");
  const int64_t in = weight.size(1), out = weight.size(0);
  lora_A = register_module("lora_A", torch::nn::Linear(torch::nn::LinearOptions(in, rank).bias(false)));
  lora_B = register_module("lora_B", torch::nn::Linear(torch::nn::LinearOptions(rank, out).bias(false)));
  torch::NoGradGuard no_grad;
  torch::nn::init::zeros_(lora_B->weight);
  lora_A->to(weight.device(), weight.scalar_type());
  lora_B->to(weight.device(), weight.scalar_type());
  lora_dropout_ = register_module("lora_dropout", torch::nn::Dropout(dropout));
  // New children start in training mode; follow the model's mode (eval disables dropout).
  lora_A->train(is_training());
  lora_B->train(is_training());
  lora_dropout_->train(is_training());
  lora_scale_ = alpha / double(rank);
}

void ProjectionImpl::merge_lora() {
  if (!has_lora()) return;
  {
    torch::NoGradGuard no_grad;
    weight.add_(torch::matmul(lora_B->weight, lora_A->weight) * lora_scale_);
  }
  unregister_module("lora_A");
  unregister_module("lora_B");
  unregister_module("lora_dropout");
  lora_A = nullptr;
  lora_B = nullptr;
  lora_dropout_ = nullptr;
  lora_scale_ = 0;
}

}  // namespace userllm::llm
