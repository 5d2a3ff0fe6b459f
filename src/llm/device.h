// The --device flag: "cpu", "cuda" or "cuda:N", checked against what this
// libtorch and this machine have, so a CPU-only build answers one line
// instead of libtorch's stack frames.
#pragma once
#include <torch/types.h>

#include <string>

namespace userllm::llm {

// Fails (common/error.h) naming `what` (the flag, or the run that recorded the device).
torch::Device parse_device(const std::string& name, const std::string& what = "--device");

}  // namespace userllm::llm
