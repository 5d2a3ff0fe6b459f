#include "llm/device.h"

#include <torch/cuda.h>

#include <optional>

#include "common/error.h"

namespace userllm::llm {

torch::Device parse_device(const std::string& name, const std::string& what) {
  std::optional<torch::Device> device;
  try {
    device.emplace(name);
  } catch (const c10::Error&) {
  }
  if (!device || (!device->is_cpu() && !device->is_cuda()))
    fail(what + " " + name + ": unknown device (expected cpu, cuda or cuda:N)");
  if (device->is_cuda()) {
    const int64_t count = torch::cuda::is_available() ? static_cast<int64_t>(torch::cuda::device_count()) : 0;
    if (count == 0) fail(what + " " + name + ": CUDA is not available (this libtorch has no CUDA, or no GPU is visible)");
    if (device->has_index() && device->index() >= count)
      fail(what + " " + name + ": there " + (count == 1 ? "is 1 CUDA device" : "are " + std::to_string(count) + " CUDA devices"));
  }
  return *device;
}

}  // namespace userllm::llm
