// Loading and saving models: Hugging Face directories (config.json +
// model.safetensors or shards listed in model.safetensors.index.json) and,
// through llama2c_loader.h, llama2.c .bin checkpoints.
#pragma once
#include <torch/nn.h>

#include <filesystem>
#include <map>
#include <string>

#include "llm/llama.h"

namespace userllm::llm {

struct LoadOptions {
  torch::Device device = torch::kCPU;
  torch::Dtype dtype = torch::kFloat32;  // F16/BF16 files are converted to this
};

using TensorMap = std::map<std::string, torch::Tensor>;

// Every tensor of one safetensors file, converted to `dtype` (on CPU).
TensorMap read_safetensors(const std::filesystem::path& path, torch::Dtype dtype = torch::kFloat32);
// Writes tensors (any device; floating tensors keep their dtype) atomically.
void write_safetensors(const std::filesystem::path& path, const TensorMap& tensors);

// Copies `tensors` into the model's parameters by name. Every parameter must be
// present with its exact shape; unknown names are an error (they mean the file
// and config disagree). Names in `ignore_prefixes` are skipped.
// adopt: a parameter takes the tensor itself where dtype and device agree (no
// copy; the tensor may be a view of a mapped file) instead of copying it in.
void load_state(torch::nn::Module& model, const TensorMap& tensors, const std::string& source, bool adopt = false);

// The model's parameters by Hugging Face name, without LoRA adapters.
TensorMap base_state(torch::nn::Module& model);

LlamaForCausalLM load_hf_model(const std::filesystem::path& dir, const LoadOptions& opts = {});
// Writes DIR/config.json and DIR/model.safetensors (F32) into an existing directory.
void save_hf_model(LlamaForCausalLM& model, const std::filesystem::path& dir);

// A directory is a Hugging Face model; a file is a llama2.c checkpoint.
LlamaForCausalLM load_model(const std::filesystem::path& path, const LoadOptions& opts = {});

}  // namespace userllm::llm
