#include "llm/special_tokens.h"

#include "common/error.h"
#include "common/json_int.h"

namespace userllm::llm {
using nlohmann::json;
namespace {

// A token named in tokenizer_config.json: a string, or an AddedToken object {"content": ...}.
std::string token_name(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return "";
}

const json* find_processor(const json& post, const std::string& type) {
  if (!post.is_object()) return nullptr;
  const std::string t = post.value("type", "");
  if (t == type) return &post;
  auto procs = post.find("processors");  // by reference: the result points into `post`
  if (t == "Sequence" && procs != post.end() && procs->is_array())
    for (const auto& p : *procs)
      if (const json* found = find_processor(p, type)) return found;
  return nullptr;
}

void from_template(const json& tp, SpecialTokens& s) {
  const json specials = tp.value("special_tokens", json::object());
  if (!specials.is_object()) fail("post_processor.special_tokens: expected an object");
  bool before = true;
  for (const auto& item : tp.value("single", json::array())) {
    if (!item.is_object()) fail("post_processor.single: expected objects");
    if (item.contains("Sequence")) {
      before = false;
      continue;
    }
    if (!item.contains("SpecialToken") || !item["SpecialToken"].is_object())
      fail("post_processor.single: expected Sequence or SpecialToken items");
    const std::string name = item["SpecialToken"].value("id", "");
    if (!specials.contains(name) || !specials[name].contains("ids") || !specials[name]["ids"].is_array())
      fail("post_processor: special token \"" + name + "\" has no ids in special_tokens");
    for (const auto& id : specials[name]["ids"]) {
      if (!id.is_number_integer()) fail("post_processor: special token \"" + name + "\" has a non-integer id");
      (before ? s.prefix : s.suffix).push_back(json_int<int32_t>(id, "post_processor: special token id"));
    }
  }
}

}  // namespace

SpecialTokens find_special_tokens(const json& post, const json& config,
                                  const std::function<int32_t(const std::string&)>& id_of) {
  SpecialTokens s;
  auto named = [&](const json& v, const char* key) -> int32_t {
    const std::string name = token_name(v);
    if (name.empty()) return -1;
    const int32_t id = id_of(name);
    if (id < 0) fail(std::string("tokenizer_config.json: ") + key + " \"" + name + "\" is not in the vocabulary");
    return id;
  };
  if (const json* tp = find_processor(post, "TemplateProcessing")) {
    from_template(*tp, s);
  } else if (const json* rp = find_processor(post, "RobertaProcessing"); rp || (rp = find_processor(post, "BertProcessing"))) {
    auto pair_id = [&](const char* key) -> int32_t {
      const json& p = rp->value(key, json());
      if (!p.is_array() || p.size() != 2 || !p[1].is_number_integer()) fail(std::string("post_processor.") + key + ": expected [token, id]");
      return json_int<int32_t>(p[1], "post_processor: token id");
    };
    s.prefix = {pair_id("cls")};
    s.suffix = {pair_id("sep")};
  }
  if (config.is_object()) {
    if (config.contains("bos_token")) s.bos = named(config["bos_token"], "bos_token");
    if (config.contains("eos_token")) s.eos = named(config["eos_token"], "eos_token");
    const bool has_bos_flag = config.contains("add_bos_token") && !config["add_bos_token"].is_null();
    const bool has_eos_flag = config.contains("add_eos_token") && !config["add_eos_token"].is_null();
    if (has_bos_flag || has_eos_flag) {
      const std::string cls = config.value("tokenizer_class", "");
      const bool llama_like = cls.rfind("LlamaTokenizer", 0) == 0 || cls.rfind("GemmaTokenizer", 0) == 0;
      auto flag = [&](const char* key, bool fallback) {
        if (!config.contains(key) || config[key].is_null()) return fallback;
        if (!config[key].is_boolean()) fail(std::string("tokenizer_config.json: ") + key + " must be true or false");
        return config[key].get<bool>();
      };
      const bool add_bos = flag("add_bos_token", llama_like), add_eos = flag("add_eos_token", false);
      if (add_bos && s.bos < 0) fail("tokenizer_config.json: add_bos_token is true but there is no bos_token");
      if (add_eos && s.eos < 0) fail("tokenizer_config.json: add_eos_token is true but there is no eos_token");
      s.prefix.clear();
      s.suffix.clear();
      if (add_bos) s.prefix.push_back(s.bos);
      if (add_eos) s.suffix.push_back(s.eos);
    }
  }
  if (s.bos < 0 && !s.prefix.empty()) s.bos = s.prefix.front();
  if (s.eos < 0 && !s.suffix.empty()) s.eos = s.suffix.back();
  return s;
}

}  // namespace userllm::llm
