#include "llm/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include <array>

#include "common/error.h"
#include "common/utf8.h"

namespace userllm::llm {
using nlohmann::json;

// ---- Regex -------------------------------------------------------------------

Regex::Regex(const std::string& pattern, bool literal, const std::string& what) {
  const uint32_t opts = literal ? (PCRE2_LITERAL | PCRE2_UTF) : (PCRE2_UTF | PCRE2_UCP);
  int err = 0;
  PCRE2_SIZE err_off = 0;
  auto* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), opts, &err, &err_off, nullptr);
  if (!code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    fail(what + ": cannot compile pattern \"" + pattern + "\" at offset " + std::to_string(err_off) + ": " +
         reinterpret_cast<const char*>(msg));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter where JIT is unavailable
  code_ = code;
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

namespace {
// One JIT stack per thread: the default 32 KiB is too small for long runs of whitespace.
struct MatchContext {
  pcre2_match_context* ctx = pcre2_match_context_create(nullptr);
  pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, nullptr);
  MatchContext() { pcre2_jit_stack_assign(ctx, nullptr, stack); }
  ~MatchContext() {
    pcre2_jit_stack_free(stack);
    pcre2_match_context_free(ctx);
  }
};
}  // namespace

std::vector<std::pair<size_t, size_t>> Regex::find_all(std::string_view text) const {
  std::vector<std::pair<size_t, size_t>> out;
  if (size_t bad = utf8_invalid_at(text); bad != std::string_view::npos)
    fail("text is not valid UTF-8 at byte " + std::to_string(bad));
  thread_local MatchContext mc;
  auto* code = static_cast<pcre2_code*>(code_);
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(code, nullptr);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t off = 0;
  while (off <= text.size()) {
    int rc = pcre2_match(code, subject, text.size(), off, PCRE2_NO_UTF_CHECK, md, mc.ctx);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      pcre2_match_data_free(md);
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof msg);
      fail(std::string("regex match failed: ") + reinterpret_cast<const char*>(msg));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    if (ov[1] == ov[0]) {  // empty match: step over one character
      if (ov[0] >= text.size()) break;
      off = ov[0] + utf8_len(uint8_t(text[ov[0]]));
      continue;
    }
    out.emplace_back(ov[0], ov[1]);
    off = ov[1];
  }
  pcre2_match_data_free(md);
  return out;
}

std::string Regex::replace_all(std::string_view text, std::string_view with) const {
  std::string out;
  size_t prev = 0;
  for (auto [b, e] : find_all(text)) {
    out.append(text.substr(prev, b - prev)).append(with);
    prev = e;
  }
  return out.append(text.substr(prev));
}

std::unique_ptr<Regex> make_pattern(const json& j, const std::string& what) {
  if (j.is_object() && j.contains("String") && j["String"].is_string())
    return std::make_unique<Regex>(j["String"].get<std::string>(), true, what);
  if (j.is_object() && j.contains("Regex") && j["Regex"].is_string())
    return std::make_unique<Regex>(j["Regex"].get<std::string>(), false, what);
  fail(what + ": pattern must be {\"String\": ...} or {\"Regex\": ...}");
}

// ---- byte-level ----------------------------------------------------------------

namespace {
struct ByteMap {
  std::array<uint32_t, 256> to_cp{};
  std::array<int16_t, 512> to_byte{};
  ByteMap() {
    to_byte.fill(-1);
    uint32_t extra = 256;
    for (int b = 0; b < 256; b++) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      to_cp[b] = printable ? uint32_t(b) : extra++;
      to_byte[to_cp[b]] = int16_t(b);
    }
  }
};
const ByteMap& byte_map() {
  static const ByteMap m;
  return m;
}
}  // namespace

std::string bytes_to_unicode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) utf8_append(out, byte_map().to_cp[uint8_t(c)]);
  return out;
}

bool unicode_to_bytes(std::string_view s, std::string& out) {
  for (size_t i = 0; i < s.size();) {
    const uint32_t cp = utf8_next(s, i);
    if (cp >= 512 || byte_map().to_byte[cp] < 0) return false;
    out += char(byte_map().to_byte[cp]);
  }
  return true;
}

// ---- normalizers ---------------------------------------------------------------

namespace {

bool is_ascii(const std::string& s) {
  for (char c : s)
    if (uint8_t(c) >= 0x80) return false;
  return true;
}

class UnicodeForm : public Normalizer {
 public:
  explicit UnicodeForm(const std::string& type) : type_(type) {
    UErrorCode st = U_ZERO_ERROR;
    if (type == "NFC") norm_ = icu::Normalizer2::getNFCInstance(st);
    else if (type == "NFD") norm_ = icu::Normalizer2::getNFDInstance(st);
    else if (type == "NFKC") norm_ = icu::Normalizer2::getNFKCInstance(st);
    else norm_ = icu::Normalizer2::getNFKDInstance(st);
    if (U_FAILURE(st)) fail("normalizer " + type + ": ICU could not load its data: " + u_errorName(st));
  }
  std::string normalize(std::string text) const override {
    if (is_ascii(text)) return text;  // every form leaves ASCII alone
    UErrorCode st = U_ZERO_ERROR;
    icu::UnicodeString u = norm_->normalize(icu::UnicodeString::fromUTF8(text), st);
    if (U_FAILURE(st)) fail("normalizer " + type_ + " failed: " + u_errorName(st));
    std::string out;
    return u.toUTF8String(out);
  }

 private:
  std::string type_;
  const icu::Normalizer2* norm_ = nullptr;
};

class Lowercase : public Normalizer {
 public:
  std::string normalize(std::string text) const override {
    if (is_ascii(text)) {
      for (char& c : text)
        if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
      return text;
    }
    std::string out;
    return icu::UnicodeString::fromUTF8(text).toLower(icu::Locale::getRoot()).toUTF8String(out);
  }
};

class Replace : public Normalizer {
 public:
  explicit Replace(const json& j)
      : re_(make_pattern(j.at("pattern"), "normalizer Replace")), with_(j.at("content").get<std::string>()) {}
  std::string normalize(std::string text) const override { return re_->replace_all(text, with_); }

 private:
  std::unique_ptr<Regex> re_;
  std::string with_;
};

class Prepend : public Normalizer {
 public:
  explicit Prepend(std::string p) : p_(std::move(p)) {}
  std::string normalize(std::string text) const override { return text.empty() ? text : p_ + text; }

 private:
  std::string p_;
};

class Strip : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  std::string normalize(std::string text) const override {
    auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
    size_t b = 0, e = text.size();
    if (left_)
      while (b < e && ws(text[b])) b++;
    if (right_)
      while (e > b && ws(text[e - 1])) e--;
    return text.substr(b, e - b);
  }

 private:
  bool left_, right_;
};

class NormalizerSequence : public Normalizer {
 public:
  explicit NormalizerSequence(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  std::string normalize(std::string text) const override {
    for (auto& p : parts_) text = p->normalize(std::move(text));
    return text;
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const json& j) {
  if (j.is_null()) return nullptr;
  const std::string type = j.value("type", "");
  if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") return std::make_unique<UnicodeForm>(type);
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "Replace") return std::make_unique<Replace>(j);
  if (type == "Prepend") return std::make_unique<Prepend>(j.at("prepend").get<std::string>());
  if (type == "Strip") return std::make_unique<Strip>(j.value("strip_left", true), j.value("strip_right", true));
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Normalizer>> parts;
    for (const auto& n : j.at("normalizers"))
      if (auto p = make_normalizer(n)) parts.push_back(std::move(p));
    return std::make_unique<NormalizerSequence>(std::move(parts));
  }
  if (type == "Precompiled")
    fail("unsupported normalizer type \"Precompiled\" (SentencePiece's compiled normalisation rules, which come with "
         "unigram tokenizers): not implemented");
  fail("unsupported normalizer type \"" + type + "\"");
}

// ---- pre-tokenizers ----------------------------------------------------------------

std::vector<std::string> split_by(std::string_view text, const Regex& re, SplitBehavior how, bool invert) {
  struct Seg {
    size_t b, e;
    bool match;
  };
  std::vector<Seg> segs;
  size_t prev = 0;
  for (auto [b, e] : re.find_all(text)) {
    if (b > prev) segs.push_back({prev, b, invert});
    segs.push_back({b, e, !invert});
    prev = e;
  }
  if (prev < text.size()) segs.push_back({prev, text.size(), invert});

  // The folds of Hugging Face tokenizers' SplitDelimiterBehavior.
  std::vector<Seg> out;
  bool prev_match = false;
  switch (how) {
    case SplitBehavior::Removed:
      for (auto& s : segs)
        if (!s.match) out.push_back(s);
      break;
    case SplitBehavior::Isolated:
      out = segs;
      break;
    case SplitBehavior::MergedWithPrevious:
      for (auto& s : segs) {
        if (s.match && !prev_match && !out.empty()) out.back().e = s.e;
        else out.push_back(s);
        prev_match = s.match;
      }
      break;
    case SplitBehavior::MergedWithNext:
      for (auto it = segs.rbegin(); it != segs.rend(); ++it) {
        if (it->match && !prev_match && !out.empty()) out.back().b = it->b;
        else out.push_back(*it);
        prev_match = it->match;
      }
      std::reverse(out.begin(), out.end());
      break;
    case SplitBehavior::Contiguous:
      for (auto& s : segs) {
        if (s.match == prev_match && !out.empty()) out.back().e = s.e;
        else out.push_back(s);
        prev_match = s.match;
      }
      break;
  }
  std::vector<std::string> pieces;
  for (auto& s : out)
    if (s.e > s.b) pieces.emplace_back(text.substr(s.b, s.e - s.b));
  return pieces;
}

namespace {

SplitBehavior parse_behavior(const std::string& s) {
  if (s == "Removed") return SplitBehavior::Removed;
  if (s == "Isolated") return SplitBehavior::Isolated;
  if (s == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (s == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (s == "Contiguous") return SplitBehavior::Contiguous;
  fail("pre_tokenizer Split: unknown behavior \"" + s + "\"");
}

// Every regex-driven pre-tokenizer: Split, Digits, Whitespace, Punctuation...
class RegexSplit : public PreTokenizer {
 public:
  RegexSplit(std::unique_ptr<Regex> re, SplitBehavior how, bool invert) : re_(std::move(re)), how_(how), invert_(invert) {}
  void split(std::vector<std::string>& pieces, bool) const override {
    std::vector<std::string> out;
    for (auto& p : pieces)
      for (auto& q : split_by(p, *re_, how_, invert_)) out.push_back(std::move(q));
    pieces = std::move(out);
  }

 private:
  std::unique_ptr<Regex> re_;
  SplitBehavior how_;
  bool invert_;
};

class ByteLevel : public PreTokenizer {
 public:
  explicit ByteLevel(const json& j) : add_prefix_space_(j.value("add_prefix_space", true)) {
    if (j.value("use_regex", true))
      re_ = std::make_unique<Regex>(R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)",
                                    false, "pre_tokenizer ByteLevel");
  }
  void split(std::vector<std::string>& pieces, bool) const override {
    std::vector<std::string> out;
    for (auto& p : pieces) {
      if (add_prefix_space_ && (p.empty() || p[0] != ' ')) p.insert(p.begin(), ' ');
      if (!re_) {
        out.push_back(bytes_to_unicode(p));
        continue;
      }
      for (auto& q : split_by(p, *re_, SplitBehavior::Isolated, false)) out.push_back(bytes_to_unicode(q));
    }
    pieces = std::move(out);
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> re_;
};

class Metaspace : public PreTokenizer {
 public:
  explicit Metaspace(const json& j) : replacement_(j.value("replacement", "\xE2\x96\x81")), split_(j.value("split", true)) {
    if (j.contains("prepend_scheme")) scheme_ = j["prepend_scheme"].get<std::string>();
    else scheme_ = j.value("add_prefix_space", true) ? "always" : "never";
    if (scheme_ != "always" && scheme_ != "first" && scheme_ != "never")
      fail("pre_tokenizer Metaspace: unknown prepend_scheme \"" + scheme_ + "\"");
    if (split_) on_replacement_ = std::make_unique<Regex>(replacement_, true, "pre_tokenizer Metaspace");
  }
  void split(std::vector<std::string>& pieces, bool first_section) const override {
    std::vector<std::string> out;
    for (size_t i = 0; i < pieces.size(); i++) {
      std::string p;
      for (char c : pieces[i]) {
        if (c == ' ') p.append(replacement_);
        else p.push_back(c);
      }
      const bool prepend = scheme_ == "always" || (scheme_ == "first" && first_section && i == 0);
      if (prepend && p.compare(0, replacement_.size(), replacement_) != 0) p.insert(0, replacement_);
      if (!split_) {
        out.push_back(std::move(p));
        continue;
      }
      for (auto& q : split_by(p, *on_replacement_, SplitBehavior::MergedWithNext, false)) out.push_back(std::move(q));
    }
    pieces = std::move(out);
  }

 private:
  std::string replacement_, scheme_;
  bool split_;
  std::unique_ptr<Regex> on_replacement_;
};

class PreTokenizerSequence : public PreTokenizer {
 public:
  explicit PreTokenizerSequence(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  void split(std::vector<std::string>& pieces, bool first_section) const override {
    for (auto& p : parts_) p->split(pieces, first_section);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

std::unique_ptr<PreTokenizer> regex_split(const char* pattern, SplitBehavior how, bool invert, const std::string& type) {
  return std::make_unique<RegexSplit>(std::make_unique<Regex>(pattern, false, "pre_tokenizer " + type), how, invert);
}

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j) {
  if (j.is_null()) return nullptr;
  const std::string type = j.value("type", "");
  if (type == "Split")
    return std::make_unique<RegexSplit>(make_pattern(j.at("pattern"), "pre_tokenizer Split"),
                                        parse_behavior(j.value("behavior", "Isolated")), j.value("invert", false));
  if (type == "ByteLevel") return std::make_unique<ByteLevel>(j);
  if (type == "Metaspace") return std::make_unique<Metaspace>(j);
  if (type == "Digits")
    return regex_split("[0-9]", j.value("individual_digits", false) ? SplitBehavior::Isolated : SplitBehavior::Contiguous,
                       false, type);
  if (type == "WhitespaceSplit") return regex_split(R"(\s+)", SplitBehavior::Removed, false, type);
  if (type == "Whitespace") return regex_split(R"(\w+|[^\w\s]+)", SplitBehavior::Removed, true, type);
  if (type == "Punctuation")
    return std::make_unique<RegexSplit>(std::make_unique<Regex>(R"([\p{P}!-/:-@\[-`{-~])", false, "pre_tokenizer Punctuation"),
                                        parse_behavior(j.value("behavior", "Isolated")), false);
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (const auto& p : j.at("pretokenizers"))
      if (auto q = make_pre_tokenizer(p)) parts.push_back(std::move(q));
    return std::make_unique<PreTokenizerSequence>(std::move(parts));
  }
  fail("unsupported pre_tokenizer type \"" + type + "\"");
}

}  // namespace userllm::llm
