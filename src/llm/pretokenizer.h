// The text side of Hugging Face tokenizer.json: a PCRE2 regex (UTF + Unicode
// properties, JIT), GPT-2's byte-to-unicode map, normalizers (ICU for NFC and
// friends) and pre-tokenizers that cut text into words before BPE.
#pragma once
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace userllm::llm {

class Regex {
 public:
  // literal = match `pattern` as plain text. Errors name `what` and the pattern.
  Regex(const std::string& pattern, bool literal, const std::string& what);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  // [begin, end) byte ranges of the non-overlapping matches, left to right.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;
  std::string replace_all(std::string_view text, std::string_view with) const;

 private:
  void* code_ = nullptr;  // pcre2_code_8
};

// A {"String": ...} or {"Regex": ...} pattern object of tokenizer.json.
std::unique_ptr<Regex> make_pattern(const nlohmann::json& j, const std::string& what);

// GPT-2 byte-level: every byte as one printable codepoint ("Ġ" for space), and back.
std::string bytes_to_unicode(std::string_view bytes);
// False when `s` holds a character outside the 256 byte-level ones.
bool unicode_to_bytes(std::string_view s, std::string& out);

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual std::string normalize(std::string text) const = 0;
};
// nullptr for a JSON null; an Error naming the type for unsupported ones.
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j);

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Splits every piece further. first_section: the pieces start the text
  // (not text after an added token), for Metaspace's prepend_scheme "first".
  virtual void split(std::vector<std::string>& pieces, bool first_section) const = 0;
};
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j);

// Splits text into pieces around regex matches, per tokenizer.json's SplitDelimiterBehavior.
enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };
std::vector<std::string> split_by(std::string_view text, const Regex& re, SplitBehavior how, bool invert);

}  // namespace userllm::llm
