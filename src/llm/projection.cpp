#include "llm/projection.h"

#include <cmath>

namespace userllm::llm {

thread_local bool UninitializedGuard::active_ = false;

ProjectionImpl::ProjectionImpl(int64_t in_features, int64_t out_features, bool with_bias)
    : in_(in_features), out_(out_features) {
  weight = register_parameter("weight", torch::empty({out_features, in_features}));
  if (!UninitializedGuard::active()) torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (with_bias) bias = register_parameter("bias", torch::zeros({out_features}));
}

torch::Tensor ProjectionImpl::forward(const torch::Tensor& x) {
  torch::Tensor y;
  if (packed_.defined()) {
    TORCH_CHECK(!torch::GradMode::is_enabled(), "packed (", llm::name(packed_.format()), ") weights are inference-only");
    y = packed_.matmul(x, bias);
  } else {
    y = gemv_or_linear(x, weight, bias);
  }
  if (has_lora()) y = y + lora_B(lora_A(lora_dropout_(x))) * lora_scale_;
  return y;
}

void ProjectionImpl::enable_lora(int64_t rank, double alpha, double dropout) {
  TORCH_CHECK(!has_lora(), "LoRA already enabled on this layer");
  TORCH_CHECK(!packed_.defined(), "LoRA cannot be added to packed (inference-only) weights");
  TORCH_CHECK(rank > 0, "LoRA rank must be positive");
  const int64_t in = in_, out = out_;
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

void ProjectionImpl::forward_rows(const float* x, int64_t n, float* y) {
  const float* b = bias.defined() ? bias.data_ptr<float>() : nullptr;
  if (packed_.defined()) packed_.matmul_rows(x, n, b, y);
  else PackedWeight(weight, WeightFormat::kF32).matmul_rows(x, n, b, y);
}

void ProjectionImpl::pack(WeightFormat format) {
  TORCH_CHECK(!has_lora(), "merge the LoRA adapter before packing the weights");
  if (format == WeightFormat::kF32 || packed_.defined()) return;
  packed_ = PackedWeight(weight, format);
  weight.set_data(torch::empty({0}, weight.options()));
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
