// Hugging Face tokenizer.json with a BPE model: byte-level BPE (GPT-2,
// Llama 3, Qwen) and SentencePiece-style BPE with byte fallback (Llama 2,
// Mistral, Gemma). Added tokens are matched first, then normalizer,
// pre-tokenizer, merges by rank; decoders turn tokens back into text.
#pragma once
#include <filesystem>
#include <memory>

#include "llm/tokenizer.h"

namespace userllm::llm {

// BOS / EOS come from tokenizer_config.json beside the file when present,
// else from the post_processor template, else from well-known token names.
std::unique_ptr<Tokenizer> load_bpe_tokenizer(const std::filesystem::path& path);

}  // namespace userllm::llm
