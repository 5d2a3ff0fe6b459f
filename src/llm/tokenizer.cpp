// load_tokenizer: picks the tokenizer kind from the file itself.
#include <fstream>

#include "common/error.h"
#include "llm/bpe_tokenizer.h"
#include "llm/llama2c_tokenizer.h"
#include "llm/sentencepiece_tokenizer.h"
#include "llm/tokenizer.h"

namespace userllm::llm {
namespace fs = std::filesystem;

std::string decode_by_difference(const Tokenizer& tok, int32_t prev, int32_t id) {
  if (prev < 0) return tok.decode({id});
  const std::string before = tok.decode({prev}), both = tok.decode({prev, id});
  if (both.compare(0, before.size(), before) == 0) return both.substr(before.size());
  return tok.decode({id});
}

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
  const std::string ext = path.extension().string();
  if (ext == ".json" || (i < got && head[i] == '{')) return load_bpe_tokenizer(path);
  if (ext == ".model") return load_sentencepiece_tokenizer(path);
  if (ext == ".bin") return load_llama2c_tokenizer(path);
  // A SentencePiece ModelProto starts with field 1 (pieces), wire type 2: byte
  // 0x0A then a non-zero length. A llama2.c tokenizer.bin starts with a small
  // little-endian int32 (0A 00 00 00 for max_token_length 10).
  const bool llama2c_int = got >= 4 && head[1] == 0 && head[2] == 0 && head[3] == 0;
  if (got > 0 && head[0] == 0x0A && !llama2c_int) return load_sentencepiece_tokenizer(path);
  return load_llama2c_tokenizer(path);
}

}  // namespace userllm::llm
