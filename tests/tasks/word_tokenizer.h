// A word-level tokenizer for the tasks and eval tests: one id per distinct
// whitespace-separated word, so token counts are easy to work out by hand.
#pragma once
#include <map>
#include <sstream>

#include "llm/tokenizer.h"

namespace userllm::test {

class WordTokenizer : public llm::Tokenizer {
 public:
  // ids 0..2 are <pad>, <bos>, <eos>; words get 3, 4, ... in order of first sight.
  explicit WordTokenizer(const std::vector<std::string>& words = {}) {
    for (const char* s : {"<pad>", "<bos>", "<eos>"}) words_.push_back(s);
    for (const auto& w : words) id_of(w);
  }
  std::vector<int32_t> encode(std::string_view text, bool add_bos, bool add_eos) const override {
    std::vector<int32_t> out;
    if (add_bos) out.push_back(1);
    std::istringstream in{std::string(text)};
    for (std::string w; in >> w;) out.push_back(id_of(w));
    if (add_eos) out.push_back(2);
    return out;
  }
  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string s;
    for (int32_t id : ids) s += (s.empty() ? "" : " ") + words_.at(size_t(id));
    return s;
  }
  std::string decode_token(int32_t, int32_t id) const override { return " " + words_.at(size_t(id)); }
  int32_t vocab_size() const override { return int32_t(words_.size()); }
  int32_t bos_id() const override { return 1; }
  int32_t eos_id() const override { return 2; }

 private:
  int32_t id_of(const std::string& w) const {
    auto it = ids_.find(w);
    if (it != ids_.end()) return it->second;
    words_.push_back(w);
    return ids_[w] = int32_t(words_.size() - 1);
  }
  mutable std::vector<std::string> words_;
  mutable std::map<std::string, int32_t> ids_;
};

}  // namespace userllm::test
