// The shape and arithmetic of a decoder from the Llama family tree, read from /
// written to a Hugging Face config.json: Llama 1/2/3.x, Mistral, Qwen2/2.5,
// Qwen3 (dense), Gemma 3 (text) and the llama2.c models. Every size and every
// family difference in the model comes from here; docs/models.md lists the
// config fields each family reads.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace userllm::llm {

// rope_scaling of config.json, as transformers' modeling_rope_utils reads it.
struct RopeScaling {
  enum class Type { kDefault, kLinear, kDynamic, kLlama3, kYarn };
  Type type = Type::kDefault;
  double factor = 1.0;
  int64_t original_max_positions = 0;  // llama3, yarn; 0 = max_position_embeddings
  double low_freq_factor = 1.0, high_freq_factor = 4.0;  // llama3
  double beta_fast = 32.0, beta_slow = 1.0;              // yarn
  double attention_factor = 0;  // yarn's cos/sin scale; 0 = derived from factor (and mscale)
  double mscale = 0, mscale_all_dim = 0;
  bool truncate = true;  // yarn: round the correction range to whole dimensions

  static RopeScaling from_json(const nlohmann::json& j, const std::string& source);
  nlohmann::json to_json() const;  // null for kDefault
  static const char* type_name(Type t);
};

struct LlamaConfig {
  enum class Family { kLlama, kGemma3 };  // kLlama: llama, mistral, qwen2, qwen3

  int64_t vocab_size = 32000;
  int64_t hidden_size = 4096;
  int64_t intermediate_size = 11008;
  int64_t num_layers = 32;
  int64_t num_heads = 32;
  int64_t num_kv_heads = 32;
  int64_t head_dim_override = 0;  // config.json head_dim; 0 = hidden_size / num_heads
  int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;  // Qwen2, or Llama with attention_bias
  bool o_bias = false;    // Llama attention_bias also biases o_proj
  bool qk_norm = false;   // Qwen3, Gemma 3: RMSNorm over each head's queries and keys
  int64_t sliding_window = 0;        // 0 = none; else keys at most this many positions back (self included)
  std::vector<bool> sliding_layers;  // per layer; empty with a window = every layer slides (Mistral)
  double initializer_range = 0.02;
  int64_t bos_token_id = 1;
  std::vector<int64_t> eos_token_ids{2};
  std::string torch_dtype = "float32";
  std::string model_type = "llama";

  // Gemma 3 only (Family::kGemma3).
  double rope_local_theta = 10000.0;   // rope_local_base_freq, for the sliding layers
  double query_pre_attn_scalar = 0;    // attention scale is its -1/2 power; 0 = head_dim
  double final_logit_softcapping = 0;  // 0 = none

  Family family() const { return model_type == "gemma3_text" ? Family::kGemma3 : Family::kLlama; }
  bool gemma() const { return family() == Family::kGemma3; }
  int64_t head_dim() const { return head_dim_override > 0 ? head_dim_override : hidden_size / num_heads; }
  bool layer_slides(int64_t layer) const {
    return sliding_window > 0 && (sliding_layers.empty() || sliding_layers[size_t(layer)]);
  }
  double attention_scale() const;  // multiplies q.k
  // Positions the model can take: max_position_embeddings, or 2^20 with dynamic
  // rope scaling (which exists to run past it).
  int64_t context_length() const;

  // Throws userllm::Error naming `source` when a field is out of range.
  void validate(const std::string& source) const;
  int64_t num_parameters() const;

  static LlamaConfig from_json(const nlohmann::json& j, const std::string& source);
  static LlamaConfig from_file(const std::string& path);
  nlohmann::json to_json() const;
};

}  // namespace userllm::llm
