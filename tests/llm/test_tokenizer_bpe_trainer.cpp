#include <gtest/gtest.h>

#include <fstream>

#include "common/error.h"
#include "llm/bpe_trainer.h"
#include "llm/tokenizer.h"
#include "test_util.h"

namespace userllm::llm {
namespace {

// A small corpus where a few words are very common.
std::string corpus() {
  std::string text;
  const char* lines[] = {"The little girl played in the park with her friend.",
                         "The boy saw a big red ball and wanted to play with it.",
                         "Once upon a time, there was a little dog named Max.",
                         "She was happy because the sun was warm and the sky was blue."};
  for (int i = 0; i < 60; i++) text += std::string(lines[i % 4]) + " Day " + std::to_string(i) + ".\n";
  return text;
}

TEST(BpeTrainer, TrainSaveLoadRoundTrip) {
  test::ScratchDir dir;
  std::ofstream(dir / "corpus.txt") << corpus();
  BpeTrainerOptions opts;
  opts.vocab_size = 400;
  train_bpe_tokenizer({dir / "corpus.txt"}, opts, dir / "tokenizer.json");
  auto tok = load_tokenizer(dir / "tokenizer.json");
  EXPECT_LE(tok->vocab_size(), 400);
  EXPECT_GT(tok->vocab_size(), 3 + 256 + 50);  // it did learn merges
  EXPECT_EQ(tok->bos_id(), 0);  // <|bos|>
  EXPECT_EQ(tok->eos_id(), 1);  // <|eos|>

  // Frequent words (with their leading space) became single tokens.
  for (const char* w : {" the", " little", " was", "The"}) {
    auto ids = tok->encode(w, false, false);
    EXPECT_EQ(ids.size(), 1u) << w;
  }
  // Anything round-trips, even text never seen (every byte is in the vocabulary).
  for (std::string text : {std::string("The little girl was happy."), std::string("Zebra! caf\xC3\xA9 \xF0\x9F\x98\x80 \t\n 123456"),
                           corpus()}) {
    auto ids = tok->encode(text, true, true);
    EXPECT_EQ(ids.front(), 0);
    EXPECT_EQ(ids.back(), 1);
    EXPECT_EQ(tok->decode(ids), text);
  }
  // Special tokens in text are matched as one id.
  auto ids = tok->encode("a<|pad|>b", false, false);
  EXPECT_NE(std::find(ids.begin(), ids.end(), 2), ids.end());
  // Compression: the training text takes far fewer tokens than bytes.
  EXPECT_LT(tok->encode(corpus(), false).size() * 3, corpus().size());
}

TEST(BpeTrainer, DeterministicAndValidated) {
  BpeTrainer a, b;
  a.add_text(corpus());
  b.add_text(corpus());
  BpeTrainerOptions opts;
  opts.vocab_size = 300;
  EXPECT_EQ(a.train(opts).dump(), b.train(opts).dump());
  opts.vocab_size = 100;  // below 3 specials + 256 bytes
  EXPECT_THROW(a.train(opts), Error);
  test::ScratchDir dir;
  std::ofstream(dir / "empty.txt") << "";
  EXPECT_THROW(train_bpe_tokenizer({dir / "empty.txt"}, BpeTrainerOptions{}, dir / "t.json"), Error);
  EXPECT_FALSE(std::filesystem::exists(dir / "t.json"));
}

}  // namespace
}  // namespace userllm::llm
