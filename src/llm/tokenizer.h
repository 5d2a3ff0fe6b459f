// Text <-> token ids. One interface over the three tokenizer kinds we load:
// Hugging Face tokenizer.json (byte-level BPE and friends), SentencePiece
// .model files, and llama2.c tokenizer.bin.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace userllm::llm {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // add_special: add what the reference tokenizer adds (Hugging Face's
  // add_special_tokens=True: Llama 3's <|begin_of_text|>, Gemma's <bos>, nothing
  // for Qwen; BOS for SentencePiece and llama2.c). add_eos: end with EOS as well
  // (a document separator in training), where there is one and it is not already last.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_special = true, bool add_eos = false) const = 0;
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  // The text of one token as it appears after `prev` (for streaming output).
  virtual std::string decode_token(int32_t prev, int32_t id) const = 0;
  virtual int32_t vocab_size() const = 0;
  virtual int32_t bos_id() const = 0;  // -1 when none
  virtual int32_t eos_id() const = 0;  // -1 when none
};

// decode_token() for tokenizers whose decoders look at neighbouring tokens:
// the text decode({prev, id}) adds to decode({prev}).
std::string decode_by_difference(const Tokenizer& tok, int32_t prev, int32_t id);

// Chooses the kind from the file: tokenizer.json, a SentencePiece .model, or a
// llama2.c tokenizer.bin. A directory means DIR/tokenizer.json (or tokenizer.model).
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& path);

}  // namespace userllm::llm
