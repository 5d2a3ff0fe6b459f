// Pieces finetune.cpp and load_run.cpp share: option checks, source
// resolution, the prompt options of a model, and the resumable checkpoint.
#pragma once
#include <torch/nn.h>
#include <torch/optim.h>

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bridge/user_llm.h"
#include "llm/tokenizer.h"
#include "tasks/batch.h"
#include "train/finetune.h"

namespace userllm::train {

// Throws userllm::Error naming the flag when an option is out of range or a source is missing.
void check_options(const FinetuneOptions& o, const std::string& who = "finetune");

// --tokenizer, else the LLM's own: DIR for a Hugging Face directory, or
// tokenizer.bin beside a llama2.c file.
std::filesystem::path tokenizer_path(const FinetuneOptions& o);

// The prompt layout the model was trained with (training and evaluation share it).
tasks::PromptOptions prompt_options(const FinetuneOptions& o, bridge::UserLlm& model);

// Train mode for the parts that learn; frozen parts stay in eval mode (no dropout).
void set_train_mode(bridge::UserLlm& model);

// {"file": {"bytes", "crc32"}} of the encoder run's and the LLM's files (sources.cpp).
nlohmann::json source_fingerprints(const FinetuneOptions& o);
// Throws userllm::Error naming `spec` when a source file differs from `recorded`.
void check_source_fingerprints(const nlohmann::json& recorded, const FinetuneOptions& o, const std::string& spec);

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// RUN/run/checkpoint.pt: the trained tensors by name, the AdamW state, the CPU
// RNG state and the step, written atomically.
void save_checkpoint(const std::filesystem::path& file, const NamedTensors& trained, torch::optim::Optimizer& opt,
                     int64_t step);
// Loads into `trained` (names and shapes must match) and `opt`, restores the
// RNG; returns the step. Throws userllm::Error on any mismatch.
int64_t load_checkpoint(const std::filesystem::path& file, const NamedTensors& trained, torch::optim::Optimizer& opt);

}  // namespace userllm::train
