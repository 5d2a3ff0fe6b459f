#include "llm/bpe_tokenizer.h"

#include <cstdio>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/json_int.h"
#include "llm/added_tokens.h"
#include "llm/bpe_decoder.h"
#include "llm/bpe_merge.h"
#include "llm/pretokenizer.h"
#include "llm/special_tokens.h"
#include "common/utf8.h"

namespace userllm::llm {
using nlohmann::json;
namespace {

constexpr int32_t kMaxVocab = 16 << 20;  // ids above this are a corrupt file, not a vocabulary

uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

class BpeTokenizer : public Tokenizer {
 public:
  // cfg: tokenizer_config.json, or null without one.
  BpeTokenizer(const json& j, const json& cfg) {
    const json& model = j.at("model");
    const std::string type = model.value("type", model.contains("merges") ? "BPE" : "");
    if (type == "Unigram")
      fail("unsupported model type \"Unigram\" (a SentencePiece unigram vocabulary, as T5 and Gemma 2 ship): only "
           "BPE tokenizer.json files are implemented");
    if (type != "BPE") fail("unsupported model type \"" + type + "\" (only BPE is implemented)");
    if (!model.value("continuing_subword_prefix", json()).is_null() && !model["continuing_subword_prefix"].get<std::string>().empty())
      fail("unsupported BPE option continuing_subword_prefix");
    if (!model.value("end_of_word_suffix", json()).is_null() && !model["end_of_word_suffix"].get<std::string>().empty())
      fail("unsupported BPE option end_of_word_suffix");
    if (!model.value("dropout", json()).is_null() && model["dropout"].get<double>() != 0.0)
      fail("unsupported BPE option dropout (a training-time option)");
    byte_fallback_ = model.value("byte_fallback", false);
    fuse_unk_ = model.value("fuse_unk", false);
    ignore_merges_ = model.value("ignore_merges", false);

    for (auto& [piece, id] : model.at("vocab").items())
      set_token(json_int<int64_t>(id, "model.vocab[\"" + piece + "\"]"), piece, "model.vocab");
    if (model.contains("unk_token") && model["unk_token"].is_string()) {
      auto it = vocab_.find(model["unk_token"].get<std::string>());
      if (it == vocab_.end()) fail("model.unk_token \"" + model["unk_token"].get<std::string>() + "\" is not in the vocab");
      unk_ = it->second;
    }
    load_merges(model.at("merges"));

    for (const auto& a : j.value("added_tokens", json::array())) {
      AddedToken t;
      t.content = a.at("content").get<std::string>();
      t.id = json_int<int32_t>(a.at("id"), "added_tokens: id");
      t.special = a.value("special", false);
      t.normalized = a.value("normalized", !t.special);
      t.lstrip = a.value("lstrip", false);
      t.rstrip = a.value("rstrip", false);
      t.single_word = a.value("single_word", false);
      set_token(t.id, t.content, "added_tokens");
      if (t.special) special_.insert(t.id);
      (t.normalized ? normalized_added_ : raw_added_).add(t);
    }
    normalizer_ = make_normalizer(j.value("normalizer", json()));
    pre_tokenizer_ = make_pre_tokenizer(j.value("pre_tokenizer", json()));
    decoder_ = make_decoder(j.value("decoder", json()));
    find_bos_eos(j.value("post_processor", json()), cfg);
  }

  std::vector<int32_t> encode(std::string_view text, bool add_special, bool add_eos) const override {
    if (size_t bad = utf8_invalid_at(text); bad != std::string_view::npos)
      fail("text is not valid UTF-8 at byte " + std::to_string(bad));
    std::vector<int32_t> ids;
    if (add_special) ids = specials_.prefix;
    bool first = true;
    for (const auto& part : raw_added_.split(text)) {
      if (part.id >= 0) {
        ids.push_back(part.id);
      } else {
        std::string norm = normalizer_ ? normalizer_->normalize(std::string(part.text)) : std::string(part.text);
        for (const auto& sub : normalized_added_.split(norm)) {
          if (sub.id >= 0) ids.push_back(sub.id);
          else encode_plain(sub.text, first, ids);
          first = false;
        }
      }
      first = false;
    }
    if (add_special) ids.insert(ids.end(), specials_.suffix.begin(), specials_.suffix.end());
    if (add_eos && specials_.eos >= 0 && (ids.empty() || ids.back() != specials_.eos)) ids.push_back(specials_.eos);
    return ids;
  }

  std::string decode(const std::vector<int32_t>& ids) const override {
    std::vector<std::string> tokens;
    for (int32_t id : ids) {
      if (!in_vocab(id)) fail("token id " + std::to_string(id) + " is outside the vocabulary");
      if (special_.count(id)) continue;  // like skip_special_tokens=True
      tokens.push_back(pieces_[size_t(id)]);
    }
    if (decoder_) decoder_->decode(tokens);
    std::string out;
    for (auto& t : tokens) out += t;
    return out;
  }

  std::string decode_token(int32_t prev, int32_t id) const override { return decode_by_difference(*this, prev, id); }

  int32_t vocab_size() const override { return int32_t(pieces_.size()); }
  int32_t bos_id() const override { return specials_.bos; }
  int32_t eos_id() const override { return specials_.eos; }

 private:
  void set_token(int64_t id, const std::string& piece, const char* where) {
    if (id < 0 || id >= kMaxVocab)
      fail(std::string(where) + ": token \"" + piece + "\" has id " + std::to_string(id) + ", expected 0.." +
           std::to_string(kMaxVocab - 1));
    if (size_t(id) >= pieces_.size()) {
      pieces_.resize(size_t(id) + 1);
      has_.resize(size_t(id) + 1, false);
    }
    pieces_[size_t(id)] = piece;
    has_[size_t(id)] = true;
    vocab_.emplace(piece, int32_t(id));
  }

  int32_t id_of(const std::string& piece, size_t merge_no) const {
    auto it = vocab_.find(piece);
    if (it == vocab_.end()) fail("model.merges[" + std::to_string(merge_no) + "]: \"" + piece + "\" is not in the vocab");
    return it->second;
  }

  // Merges come as "a b" strings (older files) or ["a", "b"] pairs (newer ones).
  void load_merges(const json& merges) {
    merges_.reserve(merges.size());
    for (size_t i = 0; i < merges.size(); i++) {
      const json& m = merges[i];
      std::string a, b;
      if (m.is_string()) {
        const std::string s = m.get<std::string>();
        const size_t sp = s.find(' ');
        if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
          fail("model.merges[" + std::to_string(i) + "]: expected \"left right\", got \"" + s + "\"");
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      } else if (m.is_array() && m.size() == 2) {
        a = m[0].get<std::string>();
        b = m[1].get<std::string>();
      } else {
        fail("model.merges[" + std::to_string(i) + "]: expected a string or a pair of strings");
      }
      merges_.emplace(pair_key(id_of(a, i), id_of(b, i)), PairMerge{double(i), id_of(a + b, i)});
    }
  }

  void find_bos_eos(const json& post, const json& cfg) {
    specials_ = find_special_tokens(post, cfg, [&](const std::string& name) {
      auto it = vocab_.find(name);
      return it == vocab_.end() ? -1 : it->second;
    });
    for (const auto* ids : {&specials_.prefix, &specials_.suffix})
      for (int32_t id : *ids)
        if (!in_vocab(id)) fail("post_processor: special token id " + std::to_string(id) + " is not in the vocabulary");
  }

  bool in_vocab(int32_t id) const { return id >= 0 && size_t(id) < pieces_.size() && has_[size_t(id)]; }

  // Normalised text between added tokens: pre-tokenize, then BPE each word.
  void encode_plain(std::string_view text, bool first_section, std::vector<int32_t>& ids) const {
    std::vector<std::string> words{std::string(text)};
    if (pre_tokenizer_) pre_tokenizer_->split(words, first_section);
    for (const auto& w : words) {
      if (w.empty()) continue;
      {
        std::lock_guard<std::mutex> lock(cache_mutex_);
        auto it = cache_.find(w);
        if (it != cache_.end()) {
          ids.insert(ids.end(), it->second.begin(), it->second.end());
          continue;
        }
      }
      std::vector<int32_t> word = encode_word(w);
      ids.insert(ids.end(), word.begin(), word.end());
      std::lock_guard<std::mutex> lock(cache_mutex_);
      if (cache_.size() >= 100000) cache_.clear();  // bounded memory on endless input
      cache_.emplace(w, std::move(word));
    }
  }

  std::vector<int32_t> encode_word(const std::string& w) const {
    if (ignore_merges_) {
      auto it = vocab_.find(w);
      if (it != vocab_.end()) return {it->second};
    }
    std::vector<int32_t> ids;
    bool prev_unk = false;
    for (size_t i = 0; i < w.size();) {
      const size_t start = i;
      utf8_next(w, i);
      const std::string ch = w.substr(start, i - start);
      auto it = vocab_.find(ch);
      if (it != vocab_.end()) {
        ids.push_back(it->second);
        prev_unk = false;
        continue;
      }
      if (byte_fallback_ && push_bytes(ch, ids)) {
        prev_unk = false;
        continue;
      }
      // Like Hugging Face, a character with neither a token nor <unk> is dropped.
      if (unk_ >= 0 && !(fuse_unk_ && prev_unk)) ids.push_back(unk_);
      prev_unk = unk_ >= 0;
    }
    bpe_merge(ids, [&](int32_t a, int32_t b) -> std::optional<PairMerge> {
      auto it = merges_.find(pair_key(a, b));
      if (it == merges_.end()) return std::nullopt;
      return it->second;
    });
    return ids;
  }

  // <0xNN> tokens for each byte of `ch`; false when the vocab lacks one.
  bool push_bytes(const std::string& ch, std::vector<int32_t>& ids) const {
    std::vector<int32_t> bytes;
    char name[8];
    for (char c : ch) {
      std::snprintf(name, sizeof name, "<0x%02X>", unsigned(uint8_t(c)));
      auto it = vocab_.find(name);
      if (it == vocab_.end()) return false;
      bytes.push_back(it->second);
    }
    ids.insert(ids.end(), bytes.begin(), bytes.end());
    return true;
  }

  std::vector<std::string> pieces_;
  std::vector<bool> has_;
  std::unordered_map<std::string, int32_t> vocab_;
  std::unordered_map<uint64_t, PairMerge> merges_;
  std::unordered_set<int32_t> special_;
  AddedTokenMatcher raw_added_, normalized_added_;
  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<Decoder> decoder_;
  int32_t unk_ = -1;
  SpecialTokens specials_;
  bool byte_fallback_ = false, fuse_unk_ = false, ignore_merges_ = false;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace

std::unique_ptr<Tokenizer> parse_bpe_tokenizer(std::string_view tokenizer_json,
                                               const std::optional<std::string_view>& config_json,
                                               const std::string& name, const std::string& config_name) {
  json cfg;  // null where there is no tokenizer_config.json
  if (config_json) {
    cfg = json::parse(*config_json, nullptr, false);
    if (cfg.is_discarded() || !cfg.is_object()) fail(config_name + ": not a JSON object");
  }
  json j = json::parse(tokenizer_json, nullptr, false);
  if (j.is_discarded()) fail(name + ": not valid JSON (expected a Hugging Face tokenizer.json)");
  try {
    return std::make_unique<BpeTokenizer>(j, cfg);
  } catch (const json::exception& e) {
    fail(name + ": unexpected tokenizer.json structure: " + e.what());
  } catch (const Error& e) {
    fail(name + ": " + e.what());
  }
}

std::unique_ptr<Tokenizer> load_bpe_tokenizer(const std::filesystem::path& path) {
  const std::string text = read_file(path);
  const auto config_path = path.parent_path() / "tokenizer_config.json";
  std::optional<std::string> config;
  if (std::filesystem::exists(config_path)) config = read_file(config_path);
  return parse_bpe_tokenizer(text, config ? std::optional<std::string_view>(*config) : std::nullopt, path.string(),
                             config_path.string());
}

}  // namespace userllm::llm
