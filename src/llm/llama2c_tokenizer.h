// llama2.c tokenizer.bin: int32 max_token_length, then per token float32
// score, int32 byte length, bytes. Encodes and decodes exactly like llama2.c
// run.c (dummy prefix space, codepoint lookup with byte fallback, greedy
// best-score merges; `<0xNN>` byte tokens when decoding).
#pragma once
#include <filesystem>
#include <memory>

#include "common/mapped_file.h"
#include "llm/tokenizer.h"

namespace userllm::llm {

std::unique_ptr<Tokenizer> load_llama2c_tokenizer(const std::filesystem::path& path);
std::unique_ptr<Tokenizer> load_llama2c_tokenizer(const ByteView& bytes);  // bytes in memory (the fuzzers)

}  // namespace userllm::llm
