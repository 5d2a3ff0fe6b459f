#include "llm/llama2c_tokenizer.h"

#include <cstring>
#include <string>
#include <unordered_map>

#include "common/error.h"
#include "common/mapped_file.h"
#include "llm/bpe_merge.h"

namespace userllm::llm {
namespace {

constexpr int32_t kBos = 1, kEos = 2, kByteBase = 3;  // fixed by llama2.c's export

class Llama2cTokenizer : public Tokenizer {
 public:
  explicit Llama2cTokenizer(const ByteView& f) {
    uint64_t off = 0;
    const int32_t max_len = f.read<int32_t>(off, "max_token_length");
    off += 4;
    if (max_len <= 0 || max_len > (1 << 20))
      fail(at_byte(f.path(), 0, "max_token_length " + std::to_string(max_len) + " is not in 1..1048576"));
    while (off < f.size()) {
      const uint64_t start = off;
      const float score = f.read<float>(off, "token score");
      const int32_t len = f.read<int32_t>(off + 4, "token length");
      off += 8;
      if (len < 0 || len > max_len)
        fail(at_byte(f.path(), start + 4, "token " + std::to_string(pieces_.size()) + " has length " +
                                              std::to_string(len) + ", expected 0.." + std::to_string(max_len)));
      const char* bytes = reinterpret_cast<const char*>(f.range(off, uint64_t(len), "token bytes"));
      off += uint64_t(len);
      pieces_.emplace_back(bytes, size_t(len));
      scores_.push_back(score);
    }
    if (pieces_.size() < size_t(kByteBase) + 256)
      fail(at_byte(f.path(), off, "only " + std::to_string(pieces_.size()) +
                                      " tokens; a llama2.c tokenizer has <unk>, <s>, </s> and 256 byte tokens first"));
    for (size_t i = 0; i < pieces_.size(); i++) lookup_.emplace(pieces_[i], int32_t(i));
  }

  std::vector<int32_t> encode(std::string_view text, bool add_bos, bool add_eos) const override {
    std::vector<int32_t> ids;
    if (add_bos) ids.push_back(kBos);
    if (!text.empty()) push_piece(" ", ids);  // SentencePiece's add_dummy_prefix
    // One lookup per UTF-8 codepoint (at most 4 bytes), like run.c.
    std::string cp;
    for (size_t i = 0; i < text.size(); i++) {
      const auto c = uint8_t(text[i]);
      if ((c & 0xC0) != 0x80) cp.clear();
      cp.push_back(char(c));
      if (i + 1 < text.size() && (uint8_t(text[i + 1]) & 0xC0) == 0x80 && cp.size() < 4) continue;
      push_piece(cp, ids);
      cp.clear();
    }
    std::string pair;
    bpe_merge(ids, [&](int32_t a, int32_t b) -> std::optional<PairMerge> {
      pair.assign(pieces_[a]).append(pieces_[b]);
      auto it = lookup_.find(pair);
      // run.c starts its best score at -1e10, so pieces scored below never merge.
      if (it == lookup_.end() || !(scores_[it->second] > -1e10f)) return std::nullopt;
      return PairMerge{-double(scores_[it->second]), it->second};
    });
    if (add_eos) ids.push_back(kEos);
    return ids;
  }

  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string out;
    int32_t prev = kBos;  // the start of the text drops the dummy prefix space too
    for (int32_t id : ids) {
      out += decode_token(prev, id);
      prev = id;
    }
    return out;
  }

  std::string decode_token(int32_t prev, int32_t id) const override {
    if (id < 0 || size_t(id) >= pieces_.size()) fail("token id " + std::to_string(id) + " is outside the vocabulary");
    if (id == kBos || id == kEos) return {};
    std::string_view p = pieces_[id];
    if (prev == kBos && !p.empty() && p[0] == ' ') p.remove_prefix(1);
    if (p.size() == 6 && p.substr(0, 3) == "<0x" && p[5] == '>') {
      int hi = hex(p[3]), lo = hex(p[4]);
      if (hi >= 0 && lo >= 0) return std::string(1, char(hi * 16 + lo));
    }
    return std::string(p);
  }

  int32_t vocab_size() const override { return int32_t(pieces_.size()); }
  int32_t bos_id() const override { return kBos; }
  int32_t eos_id() const override { return kEos; }

 private:
  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  }
  // The piece's id, or its bytes as byte-fallback tokens.
  void push_piece(const std::string& s, std::vector<int32_t>& ids) const {
    auto it = lookup_.find(s);
    if (it != lookup_.end()) {
      ids.push_back(it->second);
      return;
    }
    for (char c : s) ids.push_back(kByteBase + uint8_t(c));
  }

  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::unordered_map<std::string, int32_t> lookup_;
};

}  // namespace

std::unique_ptr<Tokenizer> load_llama2c_tokenizer(const std::filesystem::path& path) {
  return std::make_unique<Llama2cTokenizer>(MappedFile(path));
}

std::unique_ptr<Tokenizer> load_llama2c_tokenizer(const ByteView& bytes) {
  return std::make_unique<Llama2cTokenizer>(bytes);
}

}  // namespace userllm::llm
