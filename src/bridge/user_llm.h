// User-LLM as one module: a user encoder, an optional Perceiver, a projector
// into the LLM's width, and one of three ways for the LLM to read the result
// (Ning et al. 2024, section 3): gated cross-attention blocks, a soft prompt,
// or nothing at all (the text-prompt baseline, whose history is in the ids).
//
// User side: encoder [B, L, F] -> [B, L, E] -> Perceiver (optional) [B, K, E]
// -> projector [B, S, D] with S = K or L. The training strategy decides which
// parts learn (section 4.4): Full, LoRA, Enc, Proj.
#pragma once
#include <nlohmann/json.hpp>
#include <torch/nn.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "bridge/gated_cross_attention.h"
#include "bridge/perceiver.h"
#include "bridge/projector.h"
#include "encoder/user_encoder.h"
#include "llm/llama.h"
#include "llm/lora.h"

namespace userllm::bridge {

enum class IntegrationKind { kCrossAttention, kSoftPrompt, kText };
const char* integration_name(IntegrationKind k);        // "cross-attention", "soft-prompt", "text"
IntegrationKind parse_integration(const std::string& s);  // throws userllm::Error

// Full: LLM, encoder and bridge train. LoRA: LoRA adapters on the LLM (its
// base weights frozen), encoder and bridge train. Enc: LLM frozen, encoder
// and bridge train. Proj: LLM and encoder frozen, bridge trains. The text
// integration has no encoder or bridge: only Full and LoRA apply to it.
enum class Strategy { kFull, kLora, kEnc, kProj };
const char* strategy_name(Strategy s);          // "full", "lora", "enc", "proj"
Strategy parse_strategy(const std::string& s);  // throws userllm::Error

struct UserLlmOptions {
  IntegrationKind integration = IntegrationKind::kCrossAttention;
  Strategy strategy = Strategy::kFull;
  int64_t perceiver = 0;         // latents K; 0 = no Perceiver
  int64_t perceiver_blocks = 2;
  int64_t perceiver_heads = 4;
  bool projector_mlp = true;     // two-layer MLP (the paper's projection); false = linear
  int64_t cross_every = 1;       // a gated cross-attention block after every k-th LLM layer
  int64_t cross_heads = 4;
  llm::LoraConfig lora;          // Strategy::kLora
  void validate() const;         // throws userllm::Error on impossible combinations
};
nlohmann::json to_json(const UserLlmOptions& o);
UserLlmOptions user_llm_options_from_json(const nlohmann::json& j);  // throws userllm::Error

class UserLlmImpl : public torch::nn::Module {
 public:
  // `encoder` may be null for the text integration. Applies LoRA (Strategy
  // kLora) and sets requires_grad on every parameter as the strategy says.
  UserLlmImpl(const UserLlmOptions& o, encoder::UserEncoder encoder, llm::LlamaForCausalLM llm);

  // history [B, L, F] long, right-padded; valid [B, L] bool -> the vectors the
  // LLM reads: context [B, S, D] and its mask [B, S] bool (true = real).
  std::pair<torch::Tensor, torch::Tensor> user_context(const torch::Tensor& history, const torch::Tensor& valid);

  // Logits [B, T', vocab] of a left-padded batch of ids [B, T] with key_mask
  // [B, T] (1 = real). Soft prompt: T' = S + T, the context packed before the
  // tokens (bridge/soft_prompt.h); otherwise T' = T. history/valid are
  // ignored (may be undefined) for the text integration.
  torch::Tensor forward(const torch::Tensor& history, const torch::Tensor& valid, const torch::Tensor& ids,
                        const torch::Tensor& key_mask);
  // Mean next-token cross-entropy over the answer tokens: loss_mask [B, T]
  // (1 where ids[b, t] is an answer token, predicted from position t - 1).
  torch::Tensor loss(const torch::Tensor& history, const torch::Tensor& valid, const torch::Tensor& ids,
                     const torch::Tensor& key_mask, const torch::Tensor& loss_mask);

  // Sets the cross-attention context the LLM's hooks read (cross-attention
  // only); eval uses it with LlamaPrefix, expanding one user's context to R rows.
  void set_cross_context(const torch::Tensor& context, const torch::Tensor& mask);

  // The parameters the strategy trains, by name ("encoder.", "perceiver.",
  // "projector.", "cross.", "llm." + Hugging Face or LoRA names). Checkpoints
  // hold exactly these; everything else is reloaded from its source.
  std::vector<std::pair<std::string, torch::Tensor>> trained_parameters();
  // Copies tensors into trained_parameters() by name; every one must be
  // present with its shape, and nothing else (throws userllm::Error naming `source`).
  void load_trained(const std::map<std::string, torch::Tensor>& tensors, const std::string& source);

  const UserLlmOptions& options() const { return o_; }
  // Number of vectors the LLM reads for a history of L events (K or L; 0 for text).
  int64_t context_length(int64_t history) const;

  encoder::UserEncoder encoder{nullptr};  // null for text
  llm::LlamaForCausalLM llm{nullptr};
  Perceiver perceiver{nullptr};           // null without a Perceiver
  Projector projector{nullptr};           // null for text
  CrossAttentionStack cross{nullptr};     // cross-attention only

 private:
  UserLlmOptions o_;
};
TORCH_MODULE(UserLlm);

}  // namespace userllm::bridge
