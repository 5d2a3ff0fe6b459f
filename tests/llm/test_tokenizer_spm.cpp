// SentencePiece through the plugin: tok512.model is the vocabulary that
// llama2.c exported as tok512.bin, so both must encode alike.
#include <gtest/gtest.h>

#include <fstream>

#include "common/error.h"
#include "common/line_reader.h"
#include "llm/tokenizer.h"
#include "test_util.h"

namespace userllm::llm {
namespace {
using Ids = std::vector<int32_t>;

// SentencePiece's remove_extra_whitespaces (on in tok512.model; llama2.c's
// encode() has no normaliser): no leading or trailing spaces, no runs of them.
std::string squeeze_spaces(const std::string& s) {
  std::string out;
  for (char c : s)
    if (c != ' ' || (!out.empty() && out.back() != ' ')) out += c;
  if (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

TEST(SentencePieceTokenizer, MatchesLlama2cExportOfTheSameVocab) {
  USERLLM_SHARED_OR_SKIP(dir, "models/stories260K");
  auto spm = load_tokenizer(dir / "tok512.model");
  auto bin = load_tokenizer(dir / "tok512.bin");
  EXPECT_EQ(spm->vocab_size(), 512);
  EXPECT_EQ(spm->bos_id(), 1);
  EXPECT_EQ(spm->eos_id(), 2);
  EXPECT_EQ(spm->encode("Once upon a time"), (Ids{1, 403, 407, 261, 378}));

  std::vector<std::string> texts{"Lily", "Once upon a time, there was a little girl named Lily.",
                                 "She said, \"Look at the big red ball!\" and ran to the park.",
                                 "Tom was 3 years old. He had 12 cars and 100 blocks.",
                                 "caf\xC3\xA9, na\xC3\xAFve, \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xF0\x9F\x98\x80!",
                                 "tabs\tand\nnewlines\n\nand  double  spaces ", "a", "?!"};
  USERLLM_SHARED_OR_SKIP(movies, "data/movielens-latest-small/movies.csv");
  LineReader r(movies.string());
  std::string_view line;
  while (r.next(line)) texts.emplace_back(line);  // whole CSV lines: titles, years, genres
  size_t same = 0, squeezed = 0;
  for (const auto& t : texts) {
    const std::string norm = squeeze_spaces(t);
    squeezed += norm != t;
    Ids a = spm->encode(t, true, true), b = bin->encode(norm, true, true);
    EXPECT_EQ(a, b) << t;
    same += a == b;
    EXPECT_EQ(spm->decode(a), norm);
  }
  EXPECT_EQ(same, texts.size());
  EXPECT_GT(squeezed, 3u);  // the corpus does exercise the normaliser
  EXPECT_EQ(spm->decode_token(1, 403), "Once");
  EXPECT_EQ(spm->decode_token(403, 407), " upon");
  EXPECT_THROW(spm->decode({600}), Error);
}

TEST(SentencePieceTokenizer, CorruptModelIsAnError) {
  test::ScratchDir dir;
  std::ofstream(dir / "bad.model", std::ios::binary) << std::string("\x0A\xFF\xFF\xFF garbage", 12);
  try {
    load_tokenizer(dir / "bad.model");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.model"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace userllm::llm
