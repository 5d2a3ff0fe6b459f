#include "llm/bpe_decoder.h"

#include "common/error.h"
#include "common/json_int.h"
#include "llm/pretokenizer.h"

namespace userllm::llm {
using nlohmann::json;
namespace {

class ByteLevelDecoder : public Decoder {
 public:
  void decode(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      std::string bytes;
      if (unicode_to_bytes(t, bytes)) t = std::move(bytes);  // added tokens like "<|x|>" stay as they are
    }
  }
};

class MetaspaceDecoder : public Decoder {
 public:
  explicit MetaspaceDecoder(const json& j) : replacement_(j.value("replacement", "\xE2\x96\x81")) {
    std::string scheme = j.contains("prepend_scheme") ? j["prepend_scheme"].get<std::string>()
                                                      : (j.value("add_prefix_space", true) ? "always" : "never");
    strip_first_ = scheme != "never";
  }
  void decode(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); i++) {
      std::string out;
      const std::string& t = tokens[i];
      for (size_t k = 0; k < t.size();) {
        if (t.compare(k, replacement_.size(), replacement_) == 0) {
          out += ' ';
          k += replacement_.size();
        } else {
          out += t[k++];
        }
      }
      if (i == 0 && strip_first_ && !out.empty() && out[0] == ' ') out.erase(0, 1);
      tokens[i] = std::move(out);
    }
  }

 private:
  std::string replacement_;
  bool strip_first_;
};

class ReplaceDecoder : public Decoder {
 public:
  explicit ReplaceDecoder(const json& j)
      : re_(make_pattern(j.at("pattern"), "decoder Replace")), with_(j.at("content").get<std::string>()) {}
  void decode(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) t = re_->replace_all(t, with_);
  }

 private:
  std::unique_ptr<Regex> re_;
  std::string with_;
};

// "<0x41>" -> "A". Hugging Face turns invalid UTF-8 into U+FFFD here; we keep
// the raw bytes so that decode(encode(x)) == x for any byte string.
class ByteFallbackDecoder : public Decoder {
 public:
  void decode(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') continue;
      char* end = nullptr;
      const std::string hex = t.substr(3, 2);
      const long v = std::strtol(hex.c_str(), &end, 16);
      if (end == hex.c_str() + 2) t = std::string(1, char(v));
    }
  }
};

class FuseDecoder : public Decoder {
 public:
  void decode(std::vector<std::string>& tokens) const override {
    std::string all;
    for (auto& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

class StripDecoder : public Decoder {
 public:
  explicit StripDecoder(const json& j)
      : content_(j.at("content").get<std::string>()),
        start_(json_int_or<int>(j, "start", 0, "decoder Strip: start")),
        stop_(json_int_or<int>(j, "stop", 0, "decoder Strip: stop")) {}
  void decode(std::vector<std::string>& tokens) const override {
    if (content_.empty()) return;
    for (auto& t : tokens) {
      size_t b = 0, e = t.size();
      for (int i = 0; i < start_ && t.compare(b, content_.size(), content_) == 0; i++) b += content_.size();
      for (int i = 0; i < stop_ && e >= b + content_.size() && t.compare(e - content_.size(), content_.size(), content_) == 0; i++)
        e -= content_.size();
      t = t.substr(b, e - b);
    }
  }

 private:
  std::string content_;
  int start_, stop_;
};

class DecoderSequence : public Decoder {
 public:
  explicit DecoderSequence(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  void decode(std::vector<std::string>& tokens) const override {
    for (auto& p : parts_) p->decode(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const json& j) {
  if (j.is_null()) return nullptr;
  const std::string type = j.value("type", "");
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Metaspace") return std::make_unique<MetaspaceDecoder>(j);
  if (type == "Replace") return std::make_unique<ReplaceDecoder>(j);
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") return std::make_unique<StripDecoder>(j);
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Decoder>> parts;
    for (const auto& d : j.at("decoders"))
      if (auto p = make_decoder(d)) parts.push_back(std::move(p));
    return std::make_unique<DecoderSequence>(std::move(parts));
  }
  fail("unsupported decoder type \"" + type + "\"");
}

}  // namespace userllm::llm
