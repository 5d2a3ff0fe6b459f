#include "llm/packed_weight.h"

#include <torch/torch.h>

#include <algorithm>

#include "common/error.h"
#include "llm/kernels.h"

namespace userllm::llm {

namespace {
// Past this many rows sgemm's blocking beats reading the weights once per call.
constexpr int64_t kMaxGemvRows = 8;

// Q8_0 rows (int8 [n, blocks * 32] with float scales [n, blocks]) to float32 [n, cols].
torch::Tensor dequantize_q8(const torch::Tensor& q, const torch::Tensor& scale, int64_t cols) {
  const int64_t n = q.size(0), nb = scale.size(1);
  auto blocks = q.to(torch::kFloat32).view({n, nb, kernels::kQ8Block}) * scale.unsqueeze(-1);
  return blocks.view({n, nb * kernels::kQ8Block}).narrow(1, 0, cols).contiguous();
}
}  // namespace

WeightFormat parse_weight_format(const std::string& s) {
  if (s == "f32") return WeightFormat::kF32;
  if (s == "bf16") return WeightFormat::kBF16;
  if (s == "int8") return WeightFormat::kInt8;
  fail("--weights: expected f32, bf16 or int8, got '" + s + "'");
}

const char* name(WeightFormat f) {
  switch (f) {
    case WeightFormat::kBF16: return "bf16";
    case WeightFormat::kInt8: return "int8";
    default: return "f32";
  }
}

PackedWeight::PackedWeight(const torch::Tensor& w, WeightFormat format) : format_(format) {
  TORCH_CHECK(w.dim() == 2 && w.scalar_type() == torch::kFloat32 && w.device().is_cpu(),
              "PackedWeight: expected a float32 CPU matrix");
  rows_ = w.size(0);
  cols_ = w.size(1);
  auto wc = w.detach().contiguous();
  switch (format) {
    case WeightFormat::kF32: data_ = wc; break;
    case WeightFormat::kBF16: data_ = wc.to(torch::kBFloat16); break;
    case WeightFormat::kInt8: {
      const int64_t nb = kernels::q8_blocks(cols_);
      data_ = torch::empty({rows_, nb * kernels::kQ8Block}, torch::kInt8);
      scale_ = torch::empty({rows_, nb}, torch::kFloat32);
      kernels::quantize_q8(wc.data_ptr<float>(), rows_, cols_, data_.data_ptr<int8_t>(), scale_.data_ptr<float>());
      break;
    }
  }
}

int64_t PackedWeight::bytes() const {
  if (!defined()) return 0;
  return int64_t(data_.nbytes() + (scale_.defined() ? scale_.nbytes() : 0));
}

torch::Tensor PackedWeight::matmul(const torch::Tensor& x_in, const torch::Tensor& bias) const {
  TORCH_CHECK(defined(), "PackedWeight::matmul on an empty weight");
  TORCH_CHECK(x_in.device().is_cpu() && x_in.size(-1) == cols_, "PackedWeight::matmul: x must be CPU [..., ",
              cols_, "]");
  auto x = x_in.to(torch::kFloat32).contiguous();
  const int64_t n = cols_ ? x.numel() / cols_ : 0;
  auto out_sizes = x.sizes().vec();
  out_sizes.back() = rows_;
  auto y = torch::empty(out_sizes, x.options());
  torch::Tensor b;
  if (bias.defined()) b = bias.detach().to(torch::kFloat32).contiguous();
  if (format_ != WeightFormat::kF32 && n > kMaxGemvRows) {
    // Many rows (prefill): sgemm on float blocks of ~4 MB dequantised one at a
    // time beats the gemv kernel, which is bound by arithmetic there.
    auto x2 = x.view({n, cols_});
    auto y2 = y.view({n, rows_});
    const int64_t block = std::max<int64_t>(1, (int64_t(1) << 20) / std::max<int64_t>(cols_, 1));
    for (int64_t r0 = 0; r0 < rows_; r0 += block) {
      const int64_t nr = std::min(block, rows_ - r0);
      y2.narrow(1, r0, nr).copy_(torch::mm(x2, dequantize_rows(r0, nr).t()));
    }
    if (b.defined()) y2.add_(b);
    return y.to(x_in.scalar_type());
  }
  matmul_rows(x.data_ptr<float>(), n, b.defined() ? b.data_ptr<float>() : nullptr, y.data_ptr<float>());
  return y.to(x_in.scalar_type());
}

void PackedWeight::matmul_rows(const float* x, int64_t n, const float* bias, float* y) const {
  switch (format_) {
    case WeightFormat::kF32:
      kernels::gemv_f32(data_.data_ptr<float>(), rows_, cols_, x, n, bias, y);
      break;
    case WeightFormat::kBF16:
      kernels::gemv_bf16(reinterpret_cast<const uint16_t*>(data_.data_ptr()), rows_, cols_, x, n, bias, y);
      break;
    case WeightFormat::kInt8:
      kernels::gemv_q8(data_.data_ptr<int8_t>(), scale_.data_ptr<float>(), rows_, cols_, x, n, bias, y);
      break;
  }
}

torch::Tensor PackedWeight::dequantize() const { return dequantize_rows(0, rows_); }

torch::Tensor PackedWeight::dequantize_rows(int64_t first, int64_t count) const {
  auto data = data_.narrow(0, first, count);
  if (format_ != WeightFormat::kInt8) return data.to(torch::kFloat32);
  return dequantize_q8(data, scale_.narrow(0, first, count), cols_);
}

torch::Tensor PackedWeight::rows_at(const torch::Tensor& ids) const {
  auto flat = ids.reshape({-1});
  auto shape = ids.sizes().vec();
  shape.push_back(cols_);
  if (format_ != WeightFormat::kInt8) return data_.index_select(0, flat).to(torch::kFloat32).view(shape);
  return dequantize_q8(data_.index_select(0, flat), scale_.index_select(0, flat), cols_).view(shape);
}

torch::Tensor gemv_or_linear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  const bool gemv = !torch::GradMode::is_enabled() && x.device().is_cpu() && x.scalar_type() == torch::kFloat32 &&
                    weight.scalar_type() == torch::kFloat32 && weight.dim() == 2 && weight.is_contiguous() &&
                    x.size(-1) == weight.size(1) && x.numel() <= kMaxGemvRows * weight.size(1) && x.numel() > 0;
  if (!gemv) return torch::linear(x, weight, bias);
  return PackedWeight(weight, WeightFormat::kF32).matmul(x, bias);
}

}  // namespace userllm::llm
