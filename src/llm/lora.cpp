#include "llm/lora.h"

#include <set>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/json_int.h"

namespace userllm::llm {

namespace fs = std::filesystem;

namespace {

const std::string kPeftPrefix = "base_model.model.";

std::string last_component(const std::string& name) {
  auto dot = name.rfind('.');
  return dot == std::string::npos ? name : name.substr(dot + 1);
}

template <typename F>
void for_each_projection(LlamaForCausalLM& model, F f) {
  for (auto& item : model->named_modules("", /*include_self=*/false))
    if (auto p = std::dynamic_pointer_cast<ProjectionImpl>(item.value())) f(item.key(), *p);
}

}  // namespace

nlohmann::json LoraConfig::to_json() const {
  return {{"peft_type", "LORA"},  {"task_type", "CAUSAL_LM"}, {"r", rank},          {"lora_alpha", alpha},
          {"lora_dropout", dropout}, {"target_modules", targets}, {"bias", "none"}, {"fan_in_fan_out", false},
          {"inference_mode", false}};
}

LoraConfig LoraConfig::from_json(const nlohmann::json& j, const std::string& source) {
  LoraConfig c;
  try {
    if (j.value("peft_type", "LORA") != "LORA") fail(source + ": peft_type must be LORA");
    c.rank = json_int<int64_t>(j.at("r"), "r");
    c.alpha = j.at("lora_alpha").get<double>();
    c.dropout = j.value("lora_dropout", 0.0);
    c.targets = j.at("target_modules").get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    fail(source + ": invalid adapter config: " + e.what());
  }
  if (c.rank <= 0 || c.rank > 65536) fail(source + ": r must be in 1..65536");
  if (!(c.dropout >= 0 && c.dropout < 1)) fail(source + ": lora_dropout must be in [0, 1)");
  if (c.targets.empty()) fail(source + ": target_modules is empty");
  return c;
}

int64_t apply_lora(LlamaForCausalLM& model, const LoraConfig& config) {
  if (config.rank <= 0) fail("LoRA rank must be positive");
  std::set<std::string> targets(config.targets.begin(), config.targets.end());
  for (auto& p : model->parameters()) p.set_requires_grad(false);
  int64_t n = 0;
  for_each_projection(model, [&](const std::string& name, ProjectionImpl& proj) {
    if (!targets.count(last_component(name))) return;
    proj.enable_lora(config.rank, config.alpha, config.dropout);
    ++n;
  });
  if (n == 0) fail("LoRA: no projection is named like the targets (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, lm_head)");
  return n;
}

TensorMap lora_state(LlamaForCausalLM& model) {
  TensorMap out;
  for (const auto& p : model->named_parameters(true))
    if (p.key().find(".lora_") != std::string::npos) out[kPeftPrefix + p.key()] = p.value();
  return out;
}

void save_lora(LlamaForCausalLM& model, const LoraConfig& config, const fs::path& dir) {
  auto state = lora_state(model);
  if (state.empty()) fail("save_lora: the model has no LoRA adapters");
  fs::create_directories(dir);
  write_safetensors(dir / "adapter_model.safetensors", state);
  write_file_atomic(dir / "adapter_config.json", config.to_json().dump(2) + "\n");
}

LoraConfig load_lora(LlamaForCausalLM& model, const fs::path& dir) {
  const auto cfg_path = dir / "adapter_config.json";
  auto j = nlohmann::json::parse(read_file(cfg_path), nullptr, false);
  if (j.is_discarded()) fail(cfg_path.string() + ": not valid JSON");
  auto config = LoraConfig::from_json(j, cfg_path.string());
  apply_lora(model, config);
  const auto weights = dir / "adapter_model.safetensors";
  auto tensors = read_safetensors(weights, model->model->embed_tokens->weight.scalar_type());
  auto state = lora_state(model);
  torch::NoGradGuard no_grad;
  for (auto& [name, param] : state) {
    auto it = tensors.find(name);
    if (it == tensors.end()) fail(weights.string() + ": adapter tensor \"" + name + "\" is missing");
    if (it->second.sizes() != param.sizes()) fail(weights.string() + ": adapter tensor \"" + name + "\" has the wrong shape");
    param.copy_(it->second);
  }
  if (tensors.size() != state.size())
    fail(weights.string() + ": holds " + std::to_string(tensors.size()) + " tensors, the config makes " +
         std::to_string(state.size()));
  return config;
}

void merge_lora(LlamaForCausalLM& model) {
  for_each_projection(model, [](const std::string&, ProjectionImpl& proj) { proj.merge_lora(); });
  for (auto& p : model->parameters()) p.set_requires_grad(true);
}

}  // namespace userllm::llm
