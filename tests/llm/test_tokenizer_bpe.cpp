// tokenizer.json pieces the npm parity test does not reach: Metaspace
// (Llama 2 / Mistral style), byte fallback with <unk>, split behaviours, and
// the errors for unsupported components.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "llm/pretokenizer.h"
#include "llm/tokenizer.h"
#include "test_util.h"

namespace userllm::llm {
namespace {
using nlohmann::json;
using Ids = std::vector<int32_t>;

TEST(SplitBehavior, MatchesHuggingFaceExamples) {
  Regex dash("-", true, "test");
  auto split = [&](SplitBehavior b) { return split_by("the-final--countdown", dash, b, false); };
  using V = std::vector<std::string>;
  EXPECT_EQ(split(SplitBehavior::Removed), (V{"the", "final", "countdown"}));
  EXPECT_EQ(split(SplitBehavior::Isolated), (V{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(split(SplitBehavior::MergedWithPrevious), (V{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(split(SplitBehavior::MergedWithNext), (V{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(split(SplitBehavior::Contiguous), (V{"the", "-", "final", "--", "countdown"}));
  EXPECT_EQ(split_by("the-final--countdown", dash, SplitBehavior::Removed, true), (V{"-", "-", "-"}));
}

TEST(ByteLevel, MapsEveryByteAndBack) {
  std::string all;
  for (int b = 0; b < 256; b++) all += char(b);
  const std::string u = bytes_to_unicode(all);
  EXPECT_EQ(bytes_to_unicode(" "), "\xC4\xA0");  // "Ġ"
  std::string back;
  ASSERT_TRUE(unicode_to_bytes(u, back));
  EXPECT_EQ(back, all);
  back.clear();
  EXPECT_FALSE(unicode_to_bytes("\xE2\x96\x81", back));  // "▁" is not a byte-level character
}

const char* kMeta = "\xE2\x96\x81";  // ▁

// A Llama 2 style tokenizer.json: Metaspace, byte fallback, <unk>.
json llama2_style() {
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}, {"<0xC3>", 3}, {"<0xA9>", 4}};
  int id = 5;
  for (std::string p : {std::string(kMeta), std::string("h"), std::string("e"), std::string("l"), std::string("o"),
                        std::string("w"), std::string("r"), std::string("d"), std::string("ll"),
                        std::string(kMeta) + "h", std::string(kMeta) + "he", std::string(kMeta) + "hell",
                        std::string(kMeta) + "hello", std::string(kMeta) + "w"})
    vocab[p] = id++;
  json merges = {"l l", std::string(kMeta) + " h", std::string(kMeta) + "h e", std::string(kMeta) + "he ll",
                 std::string(kMeta) + "hell o", std::string(kMeta) + " w"};
  return {{"added_tokens",
           {{{"id", 1}, {"content", "<s>"}, {"special", true}, {"normalized", false}},
            {{"id", 2}, {"content", "</s>"}, {"special", true}, {"normalized", false}}}},
          {"normalizer", nullptr},
          {"pre_tokenizer", {{"type", "Metaspace"}, {"replacement", kMeta}, {"prepend_scheme", "first"}, {"split", false}}},
          {"post_processor",
           {{"type", "TemplateProcessing"},
            {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
            {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
          {"decoder",
           {{"type", "Sequence"},
            {"decoders",
             {{{"type", "Replace"}, {"pattern", {{"String", kMeta}}}, {"content", " "}},
              {{"type", "ByteFallback"}},
              {{"type", "Fuse"}},
              {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
          {"model",
           {{"type", "BPE"}, {"unk_token", "<unk>"}, {"byte_fallback", true}, {"fuse_unk", true}, {"vocab", vocab},
            {"merges", merges}}}};
}

std::unique_ptr<Tokenizer> load_json(const test::ScratchDir& dir, const json& j) {
  std::ofstream(dir / "tokenizer.json") << j.dump();
  return load_tokenizer(dir.path());  // a directory means DIR/tokenizer.json
}

TEST(BpeTokenizerJson, MetaspaceByteFallbackAndUnk) {
  test::ScratchDir dir;
  auto tok = load_json(dir, llama2_style());
  EXPECT_EQ(tok->bos_id(), 1);   // from the TemplateProcessing
  EXPECT_EQ(tok->eos_id(), -1);  // neither the template nor a tokenizer_config.json names one (never guessed)
  const int32_t hello = 17, meta = 5, w = 18;
  EXPECT_EQ(tok->encode("hello"), (Ids{1, hello}));
  EXPECT_EQ(tok->decode({1, hello}), "hello");
  // "é" has no piece: two byte tokens; "zz" has neither piece nor byte tokens: one fused <unk>.
  EXPECT_EQ(tok->encode("hello w\xC3\xA9zz", false), (Ids{hello, w, 3, 4, 0}));
  EXPECT_EQ(tok->decode({hello, w, 3, 4}), "hello w\xC3\xA9");
  // Spaces become ▁; the text's start gets one prepended unless it has one
  // already (so " " is one ▁, as in Hugging Face); text after an added token gets none.
  EXPECT_EQ(tok->encode(" ", false), (Ids{meta}));
  EXPECT_EQ(tok->encode("hello  hello", false), (Ids{hello, meta, hello}));
  EXPECT_EQ(tok->encode("</s>hello", false), (Ids{2, 6, 7, 13, 9}));  // h e ll o, no ▁ after the token
  EXPECT_EQ(tok->decode_token(1, hello), "hello");
  EXPECT_EQ(tok->decode_token(hello, 17), " hello");
  EXPECT_THROW(tok->decode({999}), Error);
  EXPECT_THROW(tok->encode("bad \xFF utf8"), Error);
}

// What encode(text, add_special = true) adds comes from the post-processor and
// tokenizer_config.json, as in transformers, never from token names.
TEST(BpeTokenizerJson, SpecialTokensFollowTemplateAndConfig) {
  test::ScratchDir dir;
  const int32_t hello = 17;
  json j = llama2_style();
  // Llama 3.1's layout: a Sequence of ByteLevel and a template, ids from its special_tokens map.
  j["post_processor"] = json::parse(R"({"type": "Sequence", "processors": [
    {"type": "ByteLevel", "add_prefix_space": true},
    {"type": "TemplateProcessing",
     "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "</s>", "type_id": 0}}],
     "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]},
                        "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}}}]})");
  auto tok = load_json(dir, j);
  EXPECT_EQ(tok->encode("hello"), (Ids{1, hello, 2}));
  EXPECT_EQ(tok->encode("hello", false), (Ids{hello}));
  EXPECT_EQ(tok->encode("hello", true, true), (Ids{1, hello, 2}));  // EOS not doubled
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);

  // Qwen's layout: no template, so nothing is added and there is no BOS unless the config names one.
  j = llama2_style();
  j["post_processor"] = {{"type", "ByteLevel"}};
  tok = load_json(dir, j);
  EXPECT_EQ(tok->encode("hello"), (Ids{hello}));
  EXPECT_EQ(tok->bos_id(), -1);
  std::ofstream(dir / "tokenizer_config.json") << json{{"bos_token", nullptr}, {"eos_token", "</s>"}}.dump();
  tok = load_json(dir, j);
  EXPECT_EQ(tok->encode("hello", true, true), (Ids{hello, 2}));
  EXPECT_EQ(tok->eos_id(), 2);

  // LlamaTokenizerFast / GemmaTokenizerFast: add_bos_token / add_eos_token rebuild the template.
  j = llama2_style();
  std::ofstream(dir / "tokenizer_config.json")
      << json{{"tokenizer_class", "LlamaTokenizerFast"}, {"bos_token", "<s>"}, {"eos_token", "</s>"},
              {"add_bos_token", false}, {"add_eos_token", true}}
             .dump();
  tok = load_json(dir, j);
  EXPECT_EQ(tok->encode("hello"), (Ids{hello, 2}));
  std::ofstream(dir / "tokenizer_config.json")
      << json{{"tokenizer_class", "GemmaTokenizerFast"}, {"bos_token", "<s>"}, {"add_eos_token", false}}.dump();
  tok = load_json(dir, j);
  EXPECT_EQ(tok->encode("hello"), (Ids{1, hello}));  // add_bos_token defaults to true for these classes
  std::ofstream(dir / "tokenizer_config.json") << json{{"add_bos_token", true}}.dump();
  EXPECT_THROW(load_json(dir, j), Error);  // asks for a BOS it does not name
}

void expect_error_naming(const json& j, const std::string& name) {
  test::ScratchDir dir;
  try {
    load_json(dir, j);
    ADD_FAILURE() << "no error for " << name;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
  }
}

TEST(BpeTokenizerJson, UnsupportedOrBrokenComponentsAreNamed) {
  json j = llama2_style();
  j["model"]["type"] = "WordPiece";
  expect_error_naming(j, "WordPiece");
  j = llama2_style();
  j["pre_tokenizer"] = {{"type", "BertPreTokenizer"}};
  expect_error_naming(j, "BertPreTokenizer");
  j = llama2_style();
  j["normalizer"] = {{"type", "Precompiled"}};
  expect_error_naming(j, "Precompiled");
  j = llama2_style();
  j["model"] = {{"type", "Unigram"}, {"unk_id", 0}, {"vocab", json::array({json::array({"<unk>", 0.0})})}};
  expect_error_naming(j, "Unigram");
  j = llama2_style();
  j["decoder"] = {{"type", "CTC"}};
  expect_error_naming(j, "CTC");
  j = llama2_style();
  j["model"]["merges"].push_back("q z");
  expect_error_naming(j, "merges[6]");
  j = llama2_style();
  j["model"]["vocab"]["x"] = -4;
  expect_error_naming(j, "-4");
  j = llama2_style();
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  expect_error_naming(j, "(unclosed");
  j = llama2_style();
  j.erase("model");
  expect_error_naming(j, "model");
  test::ScratchDir dir;
  std::ofstream(dir / "tokenizer.json") << "{\"model\": ";
  EXPECT_THROW(load_tokenizer(dir / "tokenizer.json"), Error);
}

}  // namespace
}  // namespace userllm::llm
