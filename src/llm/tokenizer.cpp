// load_tokenizer: picks the tokenizer kind from the file itself.
#include <fstream>

#include "common/error.h"
#include "llm/bpe_tokenizer.h"
#include "llm/llama2c_tokenizer.h"
#include "llm/tokenizer.h"

namespace userllm::llm {
namespace fs = std::filesystem;

std::unique_ptr<Tokenizer> load_tokenizer(const fs::path& path) {
  if (fs::is_directory(path)) {
    for (const char* name : {"tokenizer.json", "tokenizer.model", "tokenizer.bin"})
      if (fs::exists(path / name)) return load_tokenizer(path / name);
    fail(path.string() + ": no tokenizer.json, tokenizer.model or tokenizer.bin in this directory");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path.string() + ": cannot open tokenizer");
  char head[64] = {};
  in.read(head, sizeof head);
  const size_t got = size_t(in.gcount());
  size_t i = 0;
  while (i < got && (head[i] == ' ' || head[i] == '\n' || head[i] == '\r' || head[i] == '\t')) i++;
  if (i < got && head[i] == '{') return load_bpe_tokenizer(path);
  // A SentencePiece ModelProto starts with field 1 (pieces), wire type 2: byte 0x0A.
  // A llama2.c tokenizer.bin starts with a small little-endian int32 instead.
  if (got > 0 && head[0] == 0x0A) fail(path.string() + ": SentencePiece support is not built yet");
  return load_llama2c_tokenizer(path);
}

}  // namespace userllm::llm
