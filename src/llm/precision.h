// Mixed precision for training: bf16 autocast with fp32 master weights. Inside
// a MixedPrecision scope, matmuls and linears run in bfloat16 (oneDNN's AVX-512
// BF16 kernels on CPU, tensor cores on CUDA) while the weights, their gradients
// and the optimiser state stay float32; the backward pass follows the autocast
// casts. bench/lm_train_precision measures it against fp32.
#pragma once
#include <torch/types.h>

#include <string>

namespace userllm::llm {

enum class Precision { kFp32, kBf16 };
Precision parse_precision(const std::string& name);  // "fp32" or "bf16"; fails naming the flag

// Turns autocast on for `device` for the scope's lifetime (a no-op for fp32).
class MixedPrecision {
 public:
  MixedPrecision(Precision p, torch::Device device);
  ~MixedPrecision();
  MixedPrecision(const MixedPrecision&) = delete;
  MixedPrecision& operator=(const MixedPrecision&) = delete;

 private:
  bool on_ = false, cuda_ = false, was_enabled_ = false;
  at::ScalarType was_dtype_ = at::kFloat;
};

}  // namespace userllm::llm
