// Hugging Face tokenizer.json with a BPE model: byte-level BPE (GPT-2,
// Llama 3, Qwen) and SentencePiece-style BPE with byte fallback (Llama 2,
// Mistral, Gemma). Added tokens are matched first, then normalizer,
// pre-tokenizer, merges by rank; decoders turn tokens back into text.
#pragma once
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "llm/tokenizer.h"

namespace userllm::llm {

// BOS / EOS come from tokenizer_config.json beside the file when present,
// else from the post_processor template, else from well-known token names.
std::unique_ptr<Tokenizer> load_bpe_tokenizer(const std::filesystem::path& path);

// The same from bytes in memory (the fuzzers): tokenizer.json, and
// tokenizer_config.json or nullopt; the names stand for the files in messages.
std::unique_ptr<Tokenizer> parse_bpe_tokenizer(std::string_view tokenizer_json,
                                               const std::optional<std::string_view>& config_json,
                                               const std::string& name, const std::string& config_name);

}  // namespace userllm::llm
