// Trains a byte-level BPE tokenizer (Llama 3 style pre-tokenizer) on text and
// writes it as a Hugging Face tokenizer.json that load_tokenizer() reads back.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace userllm::llm {

struct BpeTrainerOptions {
  int32_t vocab_size = 4096;  // special tokens + 256 bytes + merges
  // Added as special tokens with the first ids; the first is BOS, the second EOS.
  std::vector<std::string> special_tokens{"<|bos|>", "<|eos|>", "<|pad|>"};
  int64_t min_frequency = 2;  // pairs seen fewer times are never merged
};

class BpeTrainer {
 public:
  BpeTrainer();
  // Pre-tokenizes one document and counts its words; call for every text.
  void add_text(std::string_view text);
  // Learns the merges; returns the tokenizer.json document.
  nlohmann::json train(const BpeTrainerOptions& opts) const;
  // The tokenizer_config.json beside it: names BOS and EOS (tokenizer.json's
  // template only prepends BOS, and EOS is never guessed from names).
  static nlohmann::json tokenizer_config(const BpeTrainerOptions& opts);
  uint64_t words_seen() const { return words_seen_; }

 private:
  std::unordered_map<std::string, int64_t> word_counts_;  // byte-level words
  uint64_t words_seen_ = 0;
};

// Trains on the lines of text files (plain or gzip) and writes `out` and
// tokenizer_config.json beside it, atomically.
void train_bpe_tokenizer(const std::vector<std::filesystem::path>& inputs, const BpeTrainerOptions& opts,
                         const std::filesystem::path& out);

}  // namespace userllm::llm
