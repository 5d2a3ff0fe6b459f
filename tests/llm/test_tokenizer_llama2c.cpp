#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "common/atomic_file.h"
#include "common/error.h"
#include "llm/tokenizer.h"
#include "test_util.h"

namespace userllm::llm {
namespace {
using Ids = std::vector<int32_t>;
using test::ScratchDir;

TEST(Llama2cTokenizer, GoldenPrompts) {
  USERLLM_SHARED_OR_SKIP(path, "models/stories260K/tok512.bin");
  auto tok = load_tokenizer(path);
  EXPECT_EQ(tok->vocab_size(), 512);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_EQ(tok->encode("Once upon a time"), (Ids{1, 403, 407, 261, 378}));
  EXPECT_EQ(tok->encode("Lily"), (Ids{1, 317}));
  EXPECT_EQ(tok->encode("Lily", false, true), (Ids{317, 2}));
  EXPECT_EQ(tok->encode("", true), (Ids{1}));
  EXPECT_EQ(tok->decode({1, 403, 407, 261, 378}), "Once upon a time");
  // Streaming: the space after BOS is dropped, later ones kept.
  EXPECT_EQ(tok->decode_token(1, 403), "Once");
  EXPECT_EQ(tok->decode_token(403, 407), " upon");
}

TEST(Llama2cTokenizer, GoldenGenerationDecodes) {
  USERLLM_SHARED_OR_SKIP(dir, "models/stories260K/golden");
  auto tok = load_tokenizer(dir.parent_path() / "tok512.bin");
  // The ids run.c fed at each position decode to the text run.c printed.
  std::ifstream ids_in(dir / "once_upon_a_time_t0_n64.tokens.txt");
  std::string line, fed;
  int n = 0;
  while (std::getline(ids_in, line))
    if (!line.empty() && line[0] != '#' && ++n == 2) fed = line;
  std::istringstream ss(fed);
  Ids ids{1};
  for (int32_t id; ss >> id;) ids.push_back(id);
  ASSERT_GT(ids.size(), 10u);
  std::ifstream txt_in(dir / "once_upon_a_time_t0_n64.txt");
  std::string expected((std::istreambuf_iterator<char>(txt_in)), {});
  ASSERT_FALSE(expected.empty());
  EXPECT_EQ(tok->decode(ids) + "\n", expected);  // run.c adds a final newline
}

TEST(Llama2cTokenizer, RoundTripsWithByteFallback) {
  USERLLM_SHARED_OR_SKIP(path, "models/stories260K/tok512.bin");
  auto tok = load_tokenizer(path);
  for (std::string text : {"Hello, world!", "The cat sat on the mat.\nThen it slept.", "  two  spaces ",
                           "caf\xC3\xA9 na\xC3\xAFve \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80", "a", "tab\tand\x01"}) {
    Ids ids = tok->encode(text, true, true);
    EXPECT_EQ(tok->decode(ids), text) << text;
  }
  // Characters outside the 512-token vocabulary fall back to <0xNN> tokens (id = byte + 3).
  Ids e = tok->encode("\xE6\x97\xA5", false);
  ASSERT_EQ(e.size(), 4u);  // dummy prefix " " then three byte tokens
  EXPECT_EQ(e[1], 0xE6 + 3);
  EXPECT_EQ(e[2], 0x97 + 3);
  EXPECT_EQ(e[3], 0xA5 + 3);
}

// A tokenizer.bin with the given tokens, written by hand.
void write_bin(const std::filesystem::path& p, int32_t max_len, const std::vector<std::pair<float, std::string>>& toks) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(&max_len), 4);
  for (auto& [score, s] : toks) {
    int32_t len = int32_t(s.size());
    out.write(reinterpret_cast<const char*>(&score), 4);
    out.write(reinterpret_cast<const char*>(&len), 4);
    out.write(s.data(), len);
  }
}

std::vector<std::pair<float, std::string>> tiny_vocab() {
  std::vector<std::pair<float, std::string>> v{{0, "<unk>"}, {0, "\n<s>\n"}, {0, "\n</s>\n"}};
  char buf[8];
  for (int b = 0; b < 256; b++) {
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    v.push_back({0, buf});
  }
  for (const char* s : {" ", "a", "b"}) v.push_back({0, s});  // 259, 260, 261
  v.push_back({-1, "ab"});   // 262
  v.push_back({-2, " a"});   // 263: worse than "ab"
  v.push_back({-0.5, "aa"});  // 264: best
  return v;
}

TEST(Llama2cTokenizer, MergesBestScoreThenLeftmost) {
  ScratchDir dir;
  write_bin(dir / "t.bin", 6, tiny_vocab());
  auto tok = load_tokenizer(dir / "t.bin");
  // " ab": "ab" (-1) beats " a" (-2).
  EXPECT_EQ(tok->encode("ab", false), (Ids{259, 262}));
  // " aaa": "aa" (-0.5) merges leftmost first, then " a" cannot form.
  EXPECT_EQ(tok->encode("aaa", false), (Ids{259, 264, 260}));
  EXPECT_EQ(tok->decode({259, 264, 260}), "aaa");
  // Without a .bin name the kind is sniffed: max_token_length 10 (0A 00 00 00)
  // must not be taken for a SentencePiece protobuf (0A then a length).
  write_bin(dir / "tokenizer", 10, tiny_vocab());
  EXPECT_EQ(load_tokenizer(dir / "tokenizer")->encode("aaa", false), (Ids{259, 264, 260}));
}

TEST(Llama2cTokenizer, TruncatedOrCorruptFileIsAnError) {
  ScratchDir dir;
  auto vocab = tiny_vocab();
  write_bin(dir / "full.bin", 6, vocab);
  std::string full = read_file(dir / "full.bin");
  for (size_t cut : {size_t(2), size_t(9), full.size() - 1}) {
    std::ofstream(dir / "cut.bin", std::ios::binary) << full.substr(0, cut);
    try {
      load_tokenizer(dir / "cut.bin");
      ADD_FAILURE() << "no error at cut " << cut;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("byte"), std::string::npos) << e.what();
    }
  }
  vocab[5].second = "too long";  // longer than max_token_length 6
  write_bin(dir / "long.bin", 6, vocab);
  EXPECT_THROW(load_tokenizer(dir / "long.bin"), Error);
  write_bin(dir / "neg.bin", -3, vocab);
  EXPECT_THROW(load_tokenizer(dir / "neg.bin"), Error);
  vocab.resize(100);
  write_bin(dir / "short.bin", 6, vocab);
  EXPECT_THROW(load_tokenizer(dir / "short.bin"), Error);
  auto tok = load_tokenizer(dir / "full.bin");
  EXPECT_THROW(tok->decode({9999}), Error);
}

}  // namespace
}  // namespace userllm::llm
