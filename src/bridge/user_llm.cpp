#include "bridge/user_llm.h"

#include <set>

#include "bridge/soft_prompt.h"
#include "common/error.h"
#include "common/json_int.h"

namespace userllm::bridge {

const char* integration_name(IntegrationKind k) {
  switch (k) {
    case IntegrationKind::kCrossAttention: return "cross-attention";
    case IntegrationKind::kSoftPrompt: return "soft-prompt";
    case IntegrationKind::kText: return "text";
  }
  return "?";
}

IntegrationKind parse_integration(const std::string& s) {
  if (s == "cross-attention") return IntegrationKind::kCrossAttention;
  if (s == "soft-prompt") return IntegrationKind::kSoftPrompt;
  if (s == "text") return IntegrationKind::kText;
  fail("unknown integration '" + s + "': expected cross-attention, soft-prompt or text");
}

const char* strategy_name(Strategy s) {
  switch (s) {
    case Strategy::kFull: return "full";
    case Strategy::kLora: return "lora";
    case Strategy::kEnc: return "enc";
    case Strategy::kProj: return "proj";
  }
  return "?";
}

Strategy parse_strategy(const std::string& s) {
  if (s == "full") return Strategy::kFull;
  if (s == "lora") return Strategy::kLora;
  if (s == "enc") return Strategy::kEnc;
  if (s == "proj") return Strategy::kProj;
  fail("unknown strategy '" + s + "': expected full, lora, enc or proj");
}

void UserLlmOptions::validate() const {
  const bool text = integration == IntegrationKind::kText;
  if (text && (strategy == Strategy::kEnc || strategy == Strategy::kProj))
    fail(std::string("the text integration has no encoder or bridge to train: strategy ") + strategy_name(strategy) +
         " would train nothing (use full or lora)");
  if (text && perceiver > 0) fail("the text integration reads no user vectors: --perceiver does not apply");
  if (perceiver < 0 || perceiver > 4096) fail("--perceiver must be in [0, 4096] latents");
  if (perceiver > 0 && (perceiver_blocks < 1 || perceiver_heads < 1))
    fail("the Perceiver needs at least one block and one head");
  if (cross_every < 1) fail("--cross-every must be at least 1");
  if (cross_heads < 1) fail("cross-attention needs at least one head");
  if (strategy == Strategy::kLora && lora.rank < 1) fail("--lora-rank must be at least 1");
}

nlohmann::json to_json(const UserLlmOptions& o) {
  return {{"integration", integration_name(o.integration)},
          {"strategy", strategy_name(o.strategy)},
          {"perceiver", o.perceiver},
          {"perceiver_blocks", o.perceiver_blocks},
          {"perceiver_heads", o.perceiver_heads},
          {"projector_mlp", o.projector_mlp},
          {"cross_every", o.cross_every},
          {"cross_heads", o.cross_heads},
          {"lora", o.lora.to_json()}};
}

UserLlmOptions user_llm_options_from_json(const nlohmann::json& j) {
  UserLlmOptions o;
  try {
    o.integration = parse_integration(j.at("integration").get<std::string>());
    o.strategy = parse_strategy(j.at("strategy").get<std::string>());
    o.perceiver = json_int<int64_t>(j.at("perceiver"), "perceiver");
    o.perceiver_blocks = json_int<int64_t>(j.at("perceiver_blocks"), "perceiver_blocks");
    o.perceiver_heads = json_int<int64_t>(j.at("perceiver_heads"), "perceiver_heads");
    o.projector_mlp = j.at("projector_mlp").get<bool>();
    o.cross_every = json_int<int64_t>(j.at("cross_every"), "cross_every");
    o.cross_heads = json_int<int64_t>(j.at("cross_heads"), "cross_heads");
    o.lora = llm::LoraConfig::from_json(j.at("lora"), "user_llm options");
  } catch (const nlohmann::json::exception& e) {
    fail(std::string("invalid User-LLM options: ") + e.what());
  }
  o.validate();
  return o;
}

UserLlmImpl::UserLlmImpl(const UserLlmOptions& o, encoder::UserEncoder enc, llm::LlamaForCausalLM model) : o_(o) {
  o_.validate();
  if (!model) fail("User-LLM needs an LLM");
  llm = register_module("llm", std::move(model));
  const int64_t D = llm->config().hidden_size;
  if (o_.integration != IntegrationKind::kText) {
    if (!enc) fail(std::string("the ") + integration_name(o_.integration) + " integration needs a user encoder");
    encoder = register_module("encoder", std::move(enc));
    const int64_t E = encoder->options().dim;
    if (o_.perceiver > 0)
      perceiver = register_module("perceiver", Perceiver(PerceiverOptions(E, E, o_.perceiver)
                                                             .blocks(o_.perceiver_blocks)
                                                             .heads(o_.perceiver_heads)));
    projector = register_module("projector", Projector(ProjectorOptions(E, D).mlp(o_.projector_mlp)));
    if (o_.integration == IntegrationKind::kCrossAttention) {
      auto layers = every_kth_layer(llm->config().num_layers, o_.cross_every);
      if (layers.empty())
        fail("--cross-every " + std::to_string(o_.cross_every) + " places no block in an LLM of " +
             std::to_string(llm->config().num_layers) + " layers");
      cross = register_module("cross", CrossAttentionStack(GatedCrossAttentionOptions(D, D, o_.cross_heads), layers));
      cross->attach(*llm);
    }
  }
  if (o_.strategy == Strategy::kLora) llm::apply_lora(llm, o_.lora);  // freezes the base weights

  // Which parts learn. apply_lora already left only the adapters trainable.
  const bool train_llm = o_.strategy == Strategy::kFull;
  const bool train_encoder = o_.strategy != Strategy::kProj;
  if (o_.strategy != Strategy::kLora)
    for (auto& p : llm->parameters()) p.set_requires_grad(train_llm);
  // The encoder's next-event heads served pretraining only: User-LLM reads its hidden states.
  if (encoder)
    for (auto& p : encoder->named_parameters(true)) {
      const bool head = p.key().rfind("head_", 0) == 0 || p.key().rfind("bias_", 0) == 0;
      p.value().set_requires_grad(train_encoder && !head);
    }
}

std::pair<torch::Tensor, torch::Tensor> UserLlmImpl::user_context(const torch::Tensor& history,
                                                                  const torch::Tensor& valid) {
  if (!encoder) fail("the text integration has no user encoder");
  if (history.dim() != 3 || valid.dim() != 2 || history.size(0) != valid.size(0) || history.size(1) != valid.size(1))
    fail("user history must be [B, L, F] with valid [B, L]");
  torch::Tensor h = encoder->forward(history, valid);  // [B, L, E]
  torch::Tensor mask = valid.to(torch::kBool);
  if (perceiver) {
    h = perceiver->forward(h, mask);  // [B, K, E]
    mask = torch::ones({h.size(0), h.size(1)}, torch::TensorOptions(torch::kBool).device(h.device()));
  }
  return {projector->forward(h), mask};
}

void UserLlmImpl::set_cross_context(const torch::Tensor& context, const torch::Tensor& mask) {
  if (!cross) fail("set_cross_context: this model has no cross-attention");
  cross->set_context(context, mask);
}

torch::Tensor UserLlmImpl::forward(const torch::Tensor& history, const torch::Tensor& valid, const torch::Tensor& ids,
                                   const torch::Tensor& key_mask) {
  if (ids.dim() != 2 || key_mask.sizes() != ids.sizes()) fail("ids and key_mask must both be [B, T]");
  const torch::Tensor positions = llm::make_positions(key_mask, ids.size(1));
  switch (o_.integration) {
    case IntegrationKind::kText:
      return llm->forward(ids, nullptr, positions, key_mask);
    case IntegrationKind::kCrossAttention: {
      auto [context, mask] = user_context(history, valid);
      cross->set_context(context, mask);
      return llm->forward(ids, nullptr, positions, key_mask);
    }
    case IntegrationKind::kSoftPrompt: {
      auto [context, mask] = user_context(history, valid);
      PackedInput in = pack_soft_prompt(context, mask, llm->embed(ids), key_mask);
      return llm->forward_embeddings(in.embeds, nullptr, in.positions, in.key_mask);
    }
  }
  fail("unknown integration");
}

torch::Tensor UserLlmImpl::loss(const torch::Tensor& history, const torch::Tensor& valid, const torch::Tensor& ids,
                                const torch::Tensor& key_mask, const torch::Tensor& loss_mask) {
  if (loss_mask.sizes() != ids.sizes()) fail("loss_mask must be [B, T] like ids");
  const int64_t T = ids.size(1);
  // A soft prompt puts S vectors before the tokens; the tokens' logits are the last T columns either way.
  torch::Tensor logits = forward(history, valid, ids, key_mask);
  logits = logits.narrow(1, logits.size(1) - T, T);
  // Column t - 1 predicts ids[:, t].
  auto pred = logits.narrow(1, 0, T - 1).reshape({-1, logits.size(2)});
  auto target = ids.narrow(1, 1, T - 1).reshape({-1});
  auto weight = loss_mask.narrow(1, 1, T - 1).reshape({-1}).to(pred.dtype());
  auto n = weight.sum();
  if (n.item<double>() == 0) fail("a batch without answer tokens has no loss");
  auto nll = torch::nn::functional::cross_entropy(
      pred, target, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  return (nll * weight).sum() / n;
}

std::vector<std::pair<std::string, torch::Tensor>> UserLlmImpl::trained_parameters() {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : named_parameters(true))
    if (p.value().requires_grad()) out.emplace_back(p.key(), p.value());
  return out;
}

void UserLlmImpl::load_trained(const std::map<std::string, torch::Tensor>& tensors, const std::string& source) {
  torch::NoGradGuard ng;
  std::set<std::string> seen;
  for (auto& [name, param] : trained_parameters()) {
    auto it = tensors.find(name);
    if (it == tensors.end()) fail(source + ": trained parameter '" + name + "' is missing");
    if (it->second.sizes() != param.sizes())
      fail(source + ": '" + name + "' has shape " + c10::str(it->second.sizes()) + ", the model expects " +
           c10::str(param.sizes()));
    param.copy_(it->second);
    seen.insert(name);
  }
  for (const auto& [name, t] : tensors)
    if (!seen.count(name))
      fail(source + ": '" + name + "' is not a parameter this model trains (" + strategy_name(o_.strategy) +
           " strategy, " + integration_name(o_.integration) + ")");
}

int64_t UserLlmImpl::context_length(int64_t history) const {
  if (o_.integration == IntegrationKind::kText) return 0;
  return o_.perceiver > 0 ? o_.perceiver : history;
}

}  // namespace userllm::bridge
