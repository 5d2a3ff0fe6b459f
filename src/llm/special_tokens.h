// Which special tokens a Hugging Face tokenizer adds around a text, decided as
// transformers decides it, never from token names:
// - tokenizer_config.json's add_bos_token / add_eos_token, where either is given
//   (LlamaTokenizerFast and GemmaTokenizerFast rebuild their post-processor from
//   them; their defaults are true / false, other classes' false / false);
// - else tokenizer.json's post_processor: a TemplateProcessing "single" template
//   (specials before $A are prepended, after it appended, by the ids its
//   special_tokens map gives), or a Roberta/Bert processor's cls / sep;
// - else nothing (Qwen).
// BOS and EOS themselves are tokenizer_config.json's bos_token / eos_token,
// else the template's first prepended / appended token, else none.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace userllm::llm {

struct SpecialTokens {
  std::vector<int32_t> prefix, suffix;  // added by encode(text, add_special = true)
  int32_t bos = -1, eos = -1;
};

// id_of: a token's id, or -1. config: tokenizer_config.json, or null where absent.
SpecialTokens find_special_tokens(const nlohmann::json& post_processor, const nlohmann::json& config,
                                  const std::function<int32_t(const std::string&)>& id_of);

}  // namespace userllm::llm
