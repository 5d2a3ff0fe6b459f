#include "llm/precision.h"

#include <ATen/autocast_mode.h>

#include "common/error.h"

namespace userllm::llm {

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::kFp32;
  if (name == "bf16") return Precision::kBf16;
  fail("--precision must be fp32 or bf16, not \"" + name + "\"");
}

MixedPrecision::MixedPrecision(Precision p, torch::Device device) : on_(p == Precision::kBf16), cuda_(device.is_cuda()) {
  if (!on_) return;
  if (cuda_) {
    was_enabled_ = at::autocast::is_enabled();
    was_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
  } else {
    was_enabled_ = at::autocast::is_cpu_enabled();
    was_dtype_ = at::autocast::get_autocast_cpu_dtype();
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(true);
  }
  at::autocast::increment_nesting();
}

MixedPrecision::~MixedPrecision() {
  if (!on_) return;
  // The outermost scope drops the cached bf16 copies of the weights: they change every step.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  if (cuda_) {
    at::autocast::set_enabled(was_enabled_);
    at::autocast::set_autocast_gpu_dtype(was_dtype_);
  } else {
    at::autocast::set_cpu_enabled(was_enabled_);
    at::autocast::set_autocast_cpu_dtype(was_dtype_);
  }
}

}  // namespace userllm::llm
