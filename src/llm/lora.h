// LoRA adapters on chosen projections (q_proj, v_proj, ...), stored apart from
// the base weights in PEFT's layout: DIR/adapter_config.json and
// DIR/adapter_model.safetensors with names like
// base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight.
#pragma once
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "llm/checkpoint.h"
#include "llm/llama.h"

namespace userllm::llm {

struct LoraConfig {
  int64_t rank = 8;
  double alpha = 16;
  double dropout = 0.0;
  std::vector<std::string> targets{"q_proj", "v_proj"};  // projection names (last name component)
  nlohmann::json to_json() const;                         // PEFT adapter_config.json
  static LoraConfig from_json(const nlohmann::json& j, const std::string& source);
};

// Adds an adapter to every targeted projection and freezes all other
// parameters. Returns how many projections were adapted (0 is an error).
int64_t apply_lora(LlamaForCausalLM& model, const LoraConfig& config);
// The adapter weights under their PEFT names.
TensorMap lora_state(LlamaForCausalLM& model);
void save_lora(LlamaForCausalLM& model, const LoraConfig& config, const std::filesystem::path& dir);
// Reads DIR's config, applies it to `model` and loads the adapter weights.
LoraConfig load_lora(LlamaForCausalLM& model, const std::filesystem::path& dir);
// Folds every adapter into its base weight (and unfreezes the model).
void merge_lora(LlamaForCausalLM& model);

}  // namespace userllm::llm
