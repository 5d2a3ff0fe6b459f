// `userllm lm tokenize` and `lm train-tokenizer` (needs the CLI built).
#include <gtest/gtest.h>

#include <fstream>

#include "test_util.h"

namespace userllm::llm {
namespace {
using test::run_cli;

TEST(TokenizeCli, EncodesAndDecodes) {
  USERLLM_SHARED_OR_SKIP(tok, "models/stories260K/tok512.bin");
  auto r = run_cli("lm tokenize --tokenizer '" + tok.string() + "' --text 'Once upon a time'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "1 403 407 261 378\n");
  r = run_cli("lm tokenize --tokenizer '" + tok.string() + "' --text Lily --no-bos --eos");
  EXPECT_EQ(r.output, "317 2\n");
  r = run_cli("lm tokenize --tokenizer '" + tok.string() + "' --decode '1 403 407 261 378'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "Once upon a time\n");
  r = run_cli("lm tokenize --tokenizer '" + tok.string() + "' --decode '1 99999'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("99999"), std::string::npos) << r.output;
}

TEST(TokenizeCli, TrainThenTokenize) {
  test::ScratchDir dir;
  {
    std::ofstream out(dir / "corpus.txt");
    for (int i = 0; i < 50; i++) out << "the cat sat on the mat and the dog sat on the log\n";
  }
  auto r = run_cli("-q lm train-tokenizer --input '" + (dir / "corpus.txt").string() + "' --out '" +
                   (dir / "tok.json").string() + "' --vocab-size 300");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_cli("lm tokenize --tokenizer '" + (dir / "tok.json").string() + "' --text ' the' --no-bos");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_GT(r.output.size(), 1u);
  EXPECT_EQ(r.output.find(' '), std::string::npos) << r.output;  // " the" is one token
  r = run_cli("lm tokenize --tokenizer '" + (dir / "missing.json").string() + "' --text x");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("missing.json"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace userllm::llm
