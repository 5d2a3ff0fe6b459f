#include "llm/llama_config.h"

#include <algorithm>
#include <cmath>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/json_int.h"

namespace userllm::llm {
using nlohmann::json;

namespace {

bool has(const json& j, const char* key) { return j.contains(key) && !j[key].is_null(); }

int64_t get_int(const json& j, const char* key, int64_t fallback, const std::string& source) {
  if (!has(j, key)) return fallback;
  return json_int<int64_t>(j[key], source + ": field \"" + key + "\"");
}

double get_num(const json& j, const char* key, double fallback, const std::string& source) {
  if (!has(j, key)) return fallback;
  if (!j[key].is_number()) fail(source + ": field \"" + key + "\" must be a number");
  return j[key].get<double>();
}

bool get_bool(const json& j, const char* key, bool fallback, const std::string& source) {
  if (!has(j, key)) return fallback;
  if (!j[key].is_boolean()) fail(source + ": field \"" + key + "\" must be true or false");
  return j[key].get<bool>();
}

std::string get_str(const json& j, const char* key, const std::string& fallback, const std::string& source) {
  if (!has(j, key)) return fallback;
  if (!j[key].is_string()) fail(source + ": field \"" + key + "\" must be a string");
  return j[key].get<std::string>();
}

struct FamilyName {
  const char* model_type;
  const char* architecture;
};
constexpr FamilyName kFamilies[] = {{"llama", "LlamaForCausalLM"},     {"mistral", "MistralForCausalLM"},
                                {"qwen2", "Qwen2ForCausalLM"},     {"qwen3", "Qwen3ForCausalLM"},
                                {"gemma3_text", "Gemma3ForCausalLM"}};

const FamilyName* find_family(const std::string& model_type) {
  for (const auto& f : kFamilies)
    if (model_type == f.model_type) return &f;
  return nullptr;
}

// Fields that change what the model computes and that this implementation does
// not compute: refusing them beats a model that silently answers differently.
void refuse_unsupported(const json& j, const LlamaConfig& c, const std::string& source) {
  auto refuse = [&](const std::string& what) { fail(source + ": " + what + " is not supported"); };
  if (get_bool(j, "mlp_bias", false, source)) refuse("\"mlp_bias\": true");
  if (get_num(j, "partial_rotary_factor", 1.0, source) != 1.0) refuse("\"partial_rotary_factor\" other than 1");
  if (get_bool(j, "use_sliding_window", false, source))
    refuse("\"use_sliding_window\": true (" + c.model_type + " layers with a sliding window)");
  if (get_bool(j, "use_bidirectional_attention", false, source)) refuse("\"use_bidirectional_attention\": true");
  if (has(j, "quantization_config")) refuse("\"quantization_config\" (a quantised checkpoint)");
  if (has(j, "rope_parameters")) refuse("\"rope_parameters\" (the transformers 5 config layout)");
  if (!c.gemma()) {
    for (const char* k : {"attn_logit_softcapping", "final_logit_softcapping", "query_pre_attn_scalar"})
      if (has(j, k)) refuse(std::string("\"") + k + "\" for model_type " + c.model_type);
    if (c.model_type != "mistral" && c.model_type != "qwen2" && c.model_type != "qwen3" && has(j, "sliding_window"))
      refuse("\"sliding_window\" for model_type " + c.model_type);
  }
  const char* act_key = c.gemma() && has(j, "hidden_activation") ? "hidden_activation" : "hidden_act";
  const std::string act = get_str(j, act_key, c.gemma() ? "gelu_pytorch_tanh" : "silu", source);
  const std::string want = c.gemma() ? "gelu_pytorch_tanh" : "silu";
  if (act != want) refuse(std::string("\"") + act_key + "\": \"" + act + "\" (" + c.model_type + " uses " + want + ")");
}

// More layers than any real model; checked before anything is sized by the count.
constexpr int64_t kMaxLayers = 1024;

std::string layer_count_error(int64_t n) {
  return "num_hidden_layers " + std::to_string(n) + " (expected 1 to " + std::to_string(kMaxLayers) + ")";
}

void read_sliding(const json& j, LlamaConfig& c, const std::string& source) {
  if (c.model_type == "mistral") {
    c.sliding_window = get_int(j, "sliding_window", 0, source);
    return;
  }
  if (!c.gemma()) return;  // qwen2/qwen3 carry sliding_window but use it only with use_sliding_window
  c.sliding_window = get_int(j, "sliding_window", 4096, source);
  c.sliding_layers.assign(size_t(c.num_layers), false);
  if (has(j, "layer_types")) {
    const json& t = j["layer_types"];
    if (!t.is_array() || int64_t(t.size()) != c.num_layers)
      fail(source + ": \"layer_types\" must list one type per layer (" + std::to_string(c.num_layers) + ")");
    for (size_t i = 0; i < t.size(); ++i) {
      const std::string s = t[i].is_string() ? t[i].get<std::string>() : "";
      if (s != "sliding_attention" && s != "full_attention")
        fail(source + ": layer_types[" + std::to_string(i) + "] must be \"sliding_attention\" or \"full_attention\"");
      c.sliding_layers[i] = s == "sliding_attention";
    }
  } else {
    // Gemma3TextConfig: every pattern-th layer is global, the rest slide.
    const int64_t pattern = get_int(j, "sliding_window_pattern", 6, source);
    if (pattern < 1) fail(source + ": \"sliding_window_pattern\" must be at least 1");
    for (int64_t i = 0; i < c.num_layers; ++i) c.sliding_layers[size_t(i)] = (i + 1) % pattern != 0;
  }
}

}  // namespace

const char* RopeScaling::type_name(Type t) {
  switch (t) {
    case Type::kDefault: return "default";
    case Type::kLinear: return "linear";
    case Type::kDynamic: return "dynamic";
    case Type::kLlama3: return "llama3";
    case Type::kYarn: return "yarn";
  }
  return "?";
}

RopeScaling RopeScaling::from_json(const json& j, const std::string& src) {
  RopeScaling r;
  if (j.is_null()) return r;
  const std::string source = src + ": rope_scaling";
  if (!j.is_object()) fail(source + " must be an object or null");
  // Older checkpoints name the type "type", newer ones "rope_type"; some carry both.
  std::string type = get_str(j, "rope_type", get_str(j, "type", "", source), source);
  if (type == "default") return r;
  std::vector<std::string> keys{"type", "rope_type", "factor"};
  if (type == "linear") {
    r.type = Type::kLinear;
  } else if (type == "dynamic") {
    r.type = Type::kDynamic;  // starts past max_position_embeddings; transformers reads no other length
  } else if (type == "llama3") {
    r.type = Type::kLlama3;
    keys.insert(keys.end(), {"low_freq_factor", "high_freq_factor", "original_max_position_embeddings"});
  } else if (type == "yarn") {
    r.type = Type::kYarn;
    keys.insert(keys.end(), {"original_max_position_embeddings", "beta_fast", "beta_slow", "attention_factor",
                             "mscale", "mscale_all_dim", "truncate"});
  } else {
    fail(source + ": type \"" + type + "\" is not supported (default, linear, dynamic, llama3, yarn)");
  }
  for (auto& [k, v] : j.items())
    if (std::find(keys.begin(), keys.end(), k) == keys.end())
      fail(source + ": field \"" + k + "\" is not supported for type " + type);
  if (!has(j, "factor")) fail(source + ": type " + type + " needs \"factor\"");
  r.factor = get_num(j, "factor", 1.0, source);
  r.original_max_positions = get_int(j, "original_max_position_embeddings", 0, source);
  r.low_freq_factor = get_num(j, "low_freq_factor", 1.0, source);
  r.high_freq_factor = get_num(j, "high_freq_factor", 4.0, source);
  r.beta_fast = get_num(j, "beta_fast", 32.0, source);
  r.beta_slow = get_num(j, "beta_slow", 1.0, source);
  r.attention_factor = get_num(j, "attention_factor", 0.0, source);
  r.mscale = get_num(j, "mscale", 0.0, source);
  r.mscale_all_dim = get_num(j, "mscale_all_dim", 0.0, source);
  r.truncate = get_bool(j, "truncate", true, source);
  if (!(r.factor > 0) || !std::isfinite(r.factor)) fail(source + ": factor must be positive");
  if (r.type == Type::kLlama3 && (r.original_max_positions <= 0 || r.high_freq_factor <= r.low_freq_factor))
    fail(source + ": llama3 needs original_max_position_embeddings > 0 and high_freq_factor > low_freq_factor");
  if (r.original_max_positions < 0) fail(source + ": original_max_position_embeddings must be positive");
  return r;
}

json RopeScaling::to_json() const {
  if (type == Type::kDefault) return nullptr;
  json j;
  j["rope_type"] = type_name(type);
  j["factor"] = factor;
  if (original_max_positions > 0) j["original_max_position_embeddings"] = original_max_positions;
  if (type == Type::kLlama3) {
    j["low_freq_factor"] = low_freq_factor;
    j["high_freq_factor"] = high_freq_factor;
  }
  if (type == Type::kYarn) {
    j["beta_fast"] = beta_fast;
    j["beta_slow"] = beta_slow;
    if (attention_factor > 0) j["attention_factor"] = attention_factor;
    if (mscale > 0) j["mscale"] = mscale;
    if (mscale_all_dim > 0) j["mscale_all_dim"] = mscale_all_dim;
    if (!truncate) j["truncate"] = false;
  }
  return j;
}

double LlamaConfig::attention_scale() const {
  const double s = gemma() && query_pre_attn_scalar > 0 ? query_pre_attn_scalar : double(head_dim());
  return 1.0 / std::sqrt(s);
}

int64_t LlamaConfig::context_length() const {
  // Dynamic NTK has no fixed end (its base keeps growing with the context), and
  // transformers sets none: allow 2^20 positions, far past any trained model's reach.
  if (rope_scaling.type == RopeScaling::Type::kDynamic) return std::max<int64_t>(max_position_embeddings, 1 << 20);
  return max_position_embeddings;
}

void LlamaConfig::validate(const std::string& source) const {
  auto need = [&](bool ok, const std::string& what) {
    if (!ok) fail(source + ": invalid model config: " + what);
  };
  const int64_t kMax = int64_t(1) << 24;  // no real dimension is larger; guards allocations
  need(find_family(model_type) != nullptr, "model_type " + model_type);
  need(vocab_size > 0 && vocab_size <= kMax, "vocab_size " + std::to_string(vocab_size));
  need(hidden_size > 0 && hidden_size <= kMax, "hidden_size " + std::to_string(hidden_size));
  need(intermediate_size > 0 && intermediate_size <= kMax, "intermediate_size " + std::to_string(intermediate_size));
  need(num_layers > 0 && num_layers <= kMaxLayers, layer_count_error(num_layers));
  need(num_heads > 0 && num_heads <= 4096, "num_attention_heads " + std::to_string(num_heads));
  if (head_dim_override > 0)
    need(head_dim_override <= 4096, "head_dim " + std::to_string(head_dim_override));
  else
    need(hidden_size % num_heads == 0, "num_attention_heads " + std::to_string(num_heads) +
                                           " must divide hidden_size " + std::to_string(hidden_size) +
                                           " (or give head_dim)");
  need(head_dim() % 2 == 0, "head dimension " + std::to_string(head_dim()) + " must be even for rotary embeddings");
  need(num_kv_heads > 0 && num_heads % num_kv_heads == 0,
       "num_key_value_heads " + std::to_string(num_kv_heads) + " must divide num_attention_heads " +
           std::to_string(num_heads));
  need(max_position_embeddings > 0 && max_position_embeddings <= kMax,
       "max_position_embeddings " + std::to_string(max_position_embeddings));
  need(rms_norm_eps > 0 && rms_norm_eps < 1, "rms_norm_eps must be in (0, 1)");
  need(rope_theta > 1, "rope_theta must be > 1");
  need(!gemma() || rope_local_theta > 1, "rope_local_base_freq must be > 1");
  need(sliding_window >= 0, "sliding_window must not be negative");
  need(sliding_layers.empty() || int64_t(sliding_layers.size()) == num_layers, "one sliding flag per layer");
  need(query_pre_attn_scalar >= 0 && final_logit_softcapping >= 0,
       "query_pre_attn_scalar and final_logit_softcapping must not be negative");
  need(initializer_range > 0 && initializer_range < 1, "initializer_range must be in (0, 1)");
  need(bos_token_id >= -1 && bos_token_id < vocab_size, "bos_token_id out of the vocabulary");
  for (int64_t e : eos_token_ids) need(e >= 0 && e < vocab_size, "eos_token_id out of the vocabulary");
  // config.json can only say this combination through model_type qwen2.
  need(model_type == "qwen2" ? (qkv_bias && !o_bias) : qkv_bias == o_bias,
       "model_type " + model_type + " cannot have these q/k/v/o biases");
}

int64_t LlamaConfig::num_parameters() const {
  const int64_t hd = head_dim(), q = num_heads * hd, kv = num_kv_heads * hd;
  int64_t attn = hidden_size * q * 2 + hidden_size * kv * 2 + (qkv_bias ? q + 2 * kv : 0) + (o_bias ? hidden_size : 0) +
                 (qk_norm ? 2 * hd : 0);
  int64_t norms = (gemma() ? 4 : 2) * hidden_size;
  int64_t layer = attn + 3 * hidden_size * intermediate_size + norms;
  return vocab_size * hidden_size * (tie_word_embeddings ? 1 : 2) + num_layers * layer + hidden_size;
}

LlamaConfig LlamaConfig::from_json(const json& j, const std::string& source) {
  if (!j.is_object()) fail(source + ": config must be a JSON object");
  LlamaConfig c;
  c.model_type = get_str(j, "model_type", c.model_type, source);
  const FamilyName* family = find_family(c.model_type);
  if (!family) {
    std::string hint = c.model_type == "gemma3" ? " (the multimodal Gemma 3; its text model is gemma3_text)" : "";
    fail(source + ": model_type \"" + c.model_type + "\"" + hint +
         " is not supported (llama, mistral, qwen2, qwen3, gemma3_text)");
  }
  if (has(j, "architectures")) {
    if (!j["architectures"].is_array()) fail(source + ": \"architectures\" must be a list");
    for (const auto& a : j["architectures"])
      if (!a.is_string() || a.get<std::string>() != family->architecture)
        fail(source + ": architecture " + a.dump() + " is not supported for model_type " + c.model_type +
             " (expected " + family->architecture + ")");
  }
  c.vocab_size = get_int(j, "vocab_size", c.vocab_size, source);
  c.hidden_size = get_int(j, "hidden_size", c.hidden_size, source);
  c.intermediate_size = get_int(j, "intermediate_size", c.intermediate_size, source);
  c.num_layers = get_int(j, "num_hidden_layers", c.num_layers, source);
  if (c.num_layers < 1 || c.num_layers > kMaxLayers)  // before anything is sized by it
    fail(source + ": invalid model config: " + layer_count_error(c.num_layers));
  c.num_heads = get_int(j, "num_attention_heads", c.num_heads, source);
  c.num_kv_heads = get_int(j, "num_key_value_heads", c.num_heads, source);
  c.head_dim_override = get_int(j, "head_dim", 0, source);
  if (c.head_dim_override < 0) fail(source + ": \"head_dim\" must be positive");
  if (c.num_heads > 0 && c.hidden_size % c.num_heads == 0 && c.head_dim_override == c.hidden_size / c.num_heads)
    c.head_dim_override = 0;  // spelled out but the default
  c.max_position_embeddings = get_int(j, "max_position_embeddings", c.max_position_embeddings, source);
  c.rms_norm_eps = get_num(j, "rms_norm_eps", c.rms_norm_eps, source);
  c.rope_theta = get_num(j, "rope_theta", c.gemma() ? 1e6 : c.rope_theta, source);
  c.rope_scaling = RopeScaling::from_json(j.value("rope_scaling", json()), source);
  c.initializer_range = get_num(j, "initializer_range", c.initializer_range, source);
  // Gemma3TextConfig defaults to tied embeddings; the others to separate ones.
  c.tie_word_embeddings = get_bool(j, "tie_word_embeddings", c.gemma(), source);
  if (c.model_type == "qwen2") {
    c.qkv_bias = true;  // Qwen2 always biases q, k, v (and never o)
  } else {
    c.qkv_bias = c.o_bias = get_bool(j, "attention_bias", false, source);
  }
  c.qk_norm = c.model_type == "qwen3" || c.gemma();
  if (c.gemma()) {
    c.rope_local_theta = get_num(j, "rope_local_base_freq", 10000.0, source);
    c.query_pre_attn_scalar = get_num(j, "query_pre_attn_scalar", 256.0, source);
    // Gemma 2 capped attention logits; transformers' Gemma 3 carries the field but never applies it.
    if (has(j, "attn_logit_softcapping"))
      fail(source + ": \"attn_logit_softcapping\" is not supported (transformers' Gemma 3 ignores it; set it to null)");
    c.final_logit_softcapping = get_num(j, "final_logit_softcapping", 0.0, source);
  }
  refuse_unsupported(j, c, source);
  read_sliding(j, c, source);
  c.bos_token_id = get_int(j, "bos_token_id", c.bos_token_id, source);
  if (has(j, "eos_token_id")) {
    const auto& e = j["eos_token_id"];
    c.eos_token_ids.clear();
    if (e.is_number_integer()) {
      c.eos_token_ids.push_back(json_int<int64_t>(e, source + ": eos_token_id"));
    } else if (e.is_array()) {
      for (const auto& x : e) {
        if (!x.is_number_integer()) fail(source + ": eos_token_id entries must be integers");
        c.eos_token_ids.push_back(json_int<int64_t>(x, source + ": eos_token_id"));
      }
    } else {
      fail(source + ": eos_token_id must be an integer or a list of integers");
    }
  }
  c.torch_dtype = get_str(j, "torch_dtype", get_str(j, "dtype", c.torch_dtype, source), source);
  c.validate(source);
  return c;
}

LlamaConfig LlamaConfig::from_file(const std::string& path) {
  auto j = json::parse(read_file(path), nullptr, false);
  if (j.is_discarded()) fail(path + ": not valid JSON");
  return from_json(j, path);
}

json LlamaConfig::to_json() const {
  json j;
  const FamilyName* f = find_family(model_type);
  j["architectures"] = {f ? f->architecture : "LlamaForCausalLM"};
  j["model_type"] = model_type;
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_layers;
  j["num_attention_heads"] = num_heads;
  j["num_key_value_heads"] = num_kv_heads;
  j["head_dim"] = head_dim();
  j["max_position_embeddings"] = max_position_embeddings;
  j["rms_norm_eps"] = rms_norm_eps;
  j["rope_theta"] = rope_theta;
  j["rope_scaling"] = rope_scaling.to_json();
  j["initializer_range"] = initializer_range;
  j["tie_word_embeddings"] = tie_word_embeddings;
  if (model_type != "qwen2") j["attention_bias"] = qkv_bias;
  if (gemma()) {
    j["hidden_activation"] = "gelu_pytorch_tanh";
    j["rope_local_base_freq"] = rope_local_theta;
    j["query_pre_attn_scalar"] = query_pre_attn_scalar;
    j["attn_logit_softcapping"] = nullptr;
    j["final_logit_softcapping"] = final_logit_softcapping > 0 ? json(final_logit_softcapping) : json();
    j["sliding_window"] = sliding_window;
    json types = json::array();
    for (int64_t i = 0; i < num_layers; ++i) types.push_back(layer_slides(i) ? "sliding_attention" : "full_attention");
    j["layer_types"] = types;
  } else {
    j["hidden_act"] = "silu";
    if (model_type == "mistral") j["sliding_window"] = sliding_window > 0 ? json(sliding_window) : json();
  }
  j["bos_token_id"] = bos_token_id;
  if (eos_token_ids.size() == 1)
    j["eos_token_id"] = eos_token_ids[0];
  else
    j["eos_token_id"] = eos_token_ids;
  j["torch_dtype"] = torch_dtype;
  return j;
}

}  // namespace userllm::llm
