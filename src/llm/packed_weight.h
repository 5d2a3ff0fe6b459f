// How a model's matrices are held for inference (`--weights`): float32 as
// trained, bfloat16 (half the bytes, rounded to nearest even), or int8 (Q8_0,
// ~27% of the bytes). Decode is bound by reading every weight once per token,
// so fewer bytes are proportionally faster. Packed weights are inference-only.
#pragma once
#include <torch/types.h>

#include <string>

namespace userllm::llm {

enum class WeightFormat { kF32, kBF16, kInt8 };
WeightFormat parse_weight_format(const std::string& s);  // "f32" | "bf16" | "int8"
const char* name(WeightFormat f);

// A float32 [rows, cols] matrix packed for the decode kernels (llm/kernels.h).
class PackedWeight {
 public:
  PackedWeight() = default;
  // w: float32 [rows, cols], CPU. kF32 shares w's storage; the others copy.
  PackedWeight(const torch::Tensor& w, WeightFormat format);
  bool defined() const { return data_.defined(); }
  WeightFormat format() const { return format_; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int64_t bytes() const;

  // x [..., cols] (float32, CPU) -> x W^T + bias: [..., rows].
  torch::Tensor matmul(const torch::Tensor& x, const torch::Tensor& bias = {}) const;
  // The same on raw rows: x [n, cols] -> y [n, rows]; bias may be null.
  void matmul_rows(const float* x, int64_t n, const float* bias, float* y) const;
  // Rows `ids` (int64, any shape) as float32 [ids..., cols]: an embedding lookup.
  torch::Tensor rows_at(const torch::Tensor& ids) const;
  torch::Tensor dequantize() const;  // float32 [rows, cols]
  torch::Tensor dequantize_rows(int64_t first, int64_t count) const;  // float32 [count, cols]

 private:
  WeightFormat format_ = WeightFormat::kF32;
  int64_t rows_ = 0, cols_ = 0;
  torch::Tensor data_;   // float32 / bfloat16 [rows, cols], or int8 [rows, blocks * 32]
  torch::Tensor scale_;  // int8: float32 [rows, blocks]
};

// x W^T + b, through the gemv kernel where that is the faster way: no autograd,
// float32 on the CPU, and few rows (decode). Else torch::linear.
torch::Tensor gemv_or_linear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias = {});

}  // namespace userllm::llm
