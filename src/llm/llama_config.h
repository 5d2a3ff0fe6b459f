// The dimensions of a Llama-family decoder, read from / written to a Hugging
// Face config.json. Every size in the model comes from here.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace userllm::llm {

struct LlamaConfig {
  int64_t vocab_size = 32000;
  int64_t hidden_size = 4096;
  int64_t intermediate_size = 11008;
  int64_t num_layers = 32;
  int64_t num_heads = 32;
  int64_t num_kv_heads = 32;
  int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;  // Qwen2, or Llama with attention_bias
  bool o_bias = false;    // Llama attention_bias also biases o_proj
  int64_t bos_token_id = 1;
  std::vector<int64_t> eos_token_ids{2};
  std::string torch_dtype = "float32";
  std::string model_type = "llama";

  int64_t head_dim() const { return hidden_size / num_heads; }
  // Throws userllm::Error naming `source` when a field is out of range.
  void validate(const std::string& source) const;
  int64_t num_parameters() const;

  static LlamaConfig from_json(const nlohmann::json& j, const std::string& source);
  static LlamaConfig from_file(const std::string& path);
  nlohmann::json to_json() const;
};

}  // namespace userllm::llm
