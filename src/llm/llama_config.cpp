#include "llm/llama_config.h"

#include "common/atomic_file.h"
#include "common/error.h"

namespace userllm::llm {

namespace {

int64_t get_int(const nlohmann::json& j, const char* key, int64_t fallback, const std::string& source) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_number_integer()) fail(source + ": field \"" + key + "\" must be an integer");
  return j[key].get<int64_t>();
}

double get_num(const nlohmann::json& j, const char* key, double fallback, const std::string& source) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_number()) fail(source + ": field \"" + key + "\" must be a number");
  return j[key].get<double>();
}

bool get_bool(const nlohmann::json& j, const char* key, bool fallback, const std::string& source) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_boolean()) fail(source + ": field \"" + key + "\" must be true or false");
  return j[key].get<bool>();
}

}  // namespace

void LlamaConfig::validate(const std::string& source) const {
  auto need = [&](bool ok, const std::string& what) {
    if (!ok) fail(source + ": invalid model config: " + what);
  };
  const int64_t kMax = int64_t(1) << 24;  // no real dimension is larger; guards allocations
  need(vocab_size > 0 && vocab_size <= kMax, "vocab_size " + std::to_string(vocab_size));
  need(hidden_size > 0 && hidden_size <= kMax, "hidden_size " + std::to_string(hidden_size));
  need(intermediate_size > 0 && intermediate_size <= kMax, "intermediate_size " + std::to_string(intermediate_size));
  need(num_layers > 0 && num_layers <= 1024, "num_hidden_layers " + std::to_string(num_layers));
  need(num_heads > 0 && hidden_size % num_heads == 0,
       "num_attention_heads " + std::to_string(num_heads) + " must divide hidden_size " + std::to_string(hidden_size));
  need(head_dim() % 2 == 0, "head dimension " + std::to_string(head_dim()) + " must be even for rotary embeddings");
  need(num_kv_heads > 0 && num_heads % num_kv_heads == 0,
       "num_key_value_heads " + std::to_string(num_kv_heads) + " must divide num_attention_heads " +
           std::to_string(num_heads));
  need(max_position_embeddings > 0 && max_position_embeddings <= kMax,
       "max_position_embeddings " + std::to_string(max_position_embeddings));
  need(rms_norm_eps > 0 && rms_norm_eps < 1, "rms_norm_eps must be in (0, 1)");
  need(rope_theta > 1, "rope_theta must be > 1");
  need(bos_token_id >= -1 && bos_token_id < vocab_size, "bos_token_id out of the vocabulary");
  for (int64_t e : eos_token_ids) need(e >= 0 && e < vocab_size, "eos_token_id out of the vocabulary");
  // config.json can only say this combination through model_type qwen2.
  need(model_type == "qwen2" ? (qkv_bias && !o_bias) : qkv_bias == o_bias,
       "model_type " + model_type + " cannot have these q/k/v/o biases");
}

int64_t LlamaConfig::num_parameters() const {
  const int64_t hd = head_dim(), kv = num_kv_heads * hd;
  int64_t attn = hidden_size * hidden_size * 2 + hidden_size * kv * 2 + (qkv_bias ? hidden_size + 2 * kv : 0) +
                 (o_bias ? hidden_size : 0);
  int64_t layer = attn + 3 * hidden_size * intermediate_size + 2 * hidden_size;
  return vocab_size * hidden_size * (tie_word_embeddings ? 1 : 2) + num_layers * layer + hidden_size;
}

LlamaConfig LlamaConfig::from_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) fail(source + ": config must be a JSON object");
  LlamaConfig c;
  if (j.contains("model_type") && j["model_type"].is_string()) c.model_type = j["model_type"].get<std::string>();
  if (c.model_type != "llama" && c.model_type != "qwen2" && c.model_type != "mistral")
    fail(source + ": model_type \"" + c.model_type + "\" is not a Llama-family decoder (llama, qwen2, mistral)");
  c.vocab_size = get_int(j, "vocab_size", c.vocab_size, source);
  c.hidden_size = get_int(j, "hidden_size", c.hidden_size, source);
  c.intermediate_size = get_int(j, "intermediate_size", c.intermediate_size, source);
  c.num_layers = get_int(j, "num_hidden_layers", c.num_layers, source);
  c.num_heads = get_int(j, "num_attention_heads", c.num_heads, source);
  c.num_kv_heads = get_int(j, "num_key_value_heads", c.num_heads, source);
  c.max_position_embeddings = get_int(j, "max_position_embeddings", c.max_position_embeddings, source);
  c.rms_norm_eps = get_num(j, "rms_norm_eps", c.rms_norm_eps, source);
  c.rope_theta = get_num(j, "rope_theta", c.rope_theta, source);
  c.tie_word_embeddings = get_bool(j, "tie_word_embeddings", false, source);
  if (c.model_type == "qwen2") {
    c.qkv_bias = true;  // Qwen2 always biases q, k, v (and never o)
  } else {
    c.qkv_bias = c.o_bias = get_bool(j, "attention_bias", false, source);
  }
  if (j.contains("head_dim") && j["head_dim"].is_number_integer() && j["head_dim"].get<int64_t>() != c.head_dim())
    fail(source + ": head_dim != hidden_size / num_attention_heads is not supported");
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null())
    fail(source + ": rope_scaling is not supported");
  c.bos_token_id = get_int(j, "bos_token_id", c.bos_token_id, source);
  if (j.contains("eos_token_id") && !j["eos_token_id"].is_null()) {
    const auto& e = j["eos_token_id"];
    c.eos_token_ids.clear();
    if (e.is_number_integer()) {
      c.eos_token_ids.push_back(e.get<int64_t>());
    } else if (e.is_array()) {
      for (const auto& x : e) {
        if (!x.is_number_integer()) fail(source + ": eos_token_id entries must be integers");
        c.eos_token_ids.push_back(x.get<int64_t>());
      }
    } else {
      fail(source + ": eos_token_id must be an integer or a list of integers");
    }
  }
  if (j.contains("torch_dtype") && j["torch_dtype"].is_string()) c.torch_dtype = j["torch_dtype"].get<std::string>();
  c.validate(source);
  return c;
}

LlamaConfig LlamaConfig::from_file(const std::string& path) {
  auto j = nlohmann::json::parse(read_file(path), nullptr, false);
  if (j.is_discarded()) fail(path + ": not valid JSON");
  return from_json(j, path);
}

nlohmann::json LlamaConfig::to_json() const {
  nlohmann::json j;
  j["architectures"] = {model_type == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"};
  j["model_type"] = model_type;
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_layers;
  j["num_attention_heads"] = num_heads;
  j["num_key_value_heads"] = num_kv_heads;
  j["max_position_embeddings"] = max_position_embeddings;
  j["rms_norm_eps"] = rms_norm_eps;
  j["rope_theta"] = rope_theta;
  j["tie_word_embeddings"] = tie_word_embeddings;
  if (model_type != "qwen2") j["attention_bias"] = qkv_bias;
  j["hidden_act"] = "silu";
  j["bos_token_id"] = bos_token_id;
  if (eos_token_ids.size() == 1)
    j["eos_token_id"] = eos_token_ids[0];
  else
    j["eos_token_id"] = eos_token_ids;
  j["torch_dtype"] = torch_dtype;
  return j;
}

}  // namespace userllm::llm
