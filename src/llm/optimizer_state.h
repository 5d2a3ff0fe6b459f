// Checks on optimiser state read back from a checkpoint (untrusted input).
#pragma once
#include <torch/optim.h>

#include <string>

namespace userllm::llm {

// Every AdamW moment must have its parameter's shape; throws userllm::Error
// naming `source` otherwise. `opt` must be an AdamW (the trainers' optimiser).
void check_adamw_state(torch::optim::Optimizer& opt, const std::string& source);

}  // namespace userllm::llm
