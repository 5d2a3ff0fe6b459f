// The text-prompt baseline rendering and the prompt/answer tokenisation.
#include <gtest/gtest.h>

#include "common/error.h"
#include "data/test_dataset_util.h"
#include "tasks/text_history.h"
#include "tasks/tokenize.h"
#include "tasks/word_tokenizer.h"
#include "test_util.h"

using namespace userllm;
using userllm::test::Row;

TEST(TextHistory, RendersOldestFirstAndCutsTheOldest) {
  test::ScratchDir dir;
  auto ds = test::build_dataset(dir / "ds", {{"u", 1, "x", 4}, {"u", 2, "y", 3.5}, {"u", 3, "z", 5}}, {},
                                {{"x", {"Drama"}}, {"y", {"Drama"}}, {"z", {"Drama"}}});
  test::WordTokenizer tok;
  uint64_t b = ds.user_begin(0), e = ds.user_end(0);
  EXPECT_EQ(tasks::event_text_line(ds, b + 1), "Title y (2000), rated 3.5");
  // Each event is 5 words ("Title y (2000), rated 3.5;"), 15 in all.
  auto all = tasks::render_history(ds, b, e, tok, 100);
  EXPECT_EQ(all.kept, 3);
  EXPECT_EQ(all.tokens, 15);
  EXPECT_EQ(all.text, "Title x (2000), rated 4.0; Title y (2000), rated 3.5; Title z (2000), rated 5.0");
  auto exact = tasks::render_history(ds, b, e, tok, 15);
  EXPECT_EQ(exact.kept, 3);
  auto two = tasks::render_history(ds, b, e, tok, 14);
  EXPECT_EQ(two.kept, 2);
  EXPECT_EQ(two.tokens, 10);
  EXPECT_EQ(two.text, "Title y (2000), rated 3.5; Title z (2000), rated 5.0");
  auto one = tasks::render_history(ds, b, e, tok, 9);
  EXPECT_EQ(one.kept, 1);
  EXPECT_EQ(one.text, "Title z (2000), rated 5.0");
  auto none = tasks::render_history(ds, b, e, tok, 4);
  EXPECT_EQ(none.kept, 0);
  EXPECT_EQ(none.text, "");
  EXPECT_THROW(tasks::render_history(ds, e, b, tok, 10), Error);
}

TEST(Tokenize, LossCoversAnswerAndEos) {
  test::WordTokenizer tok({"what", "next", "Toy", "Story"});
  auto t = tasks::tokenize_example(tok, "what next", "Toy Story");
  EXPECT_EQ(t.ids, (std::vector<int64_t>{1, 3, 4, 5, 6, 2}));
  EXPECT_EQ(t.loss_mask, (std::vector<uint8_t>{0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(t.prompt_len, 3);
  EXPECT_FALSE(t.truncated);
  EXPECT_EQ(tasks::answer_ids(tok, "Toy Story"), (std::vector<int64_t>{5, 6, 2}));

  auto cut = tasks::tokenize_example(tok, "what next", "Toy Story", 5);
  EXPECT_EQ(cut.ids, (std::vector<int64_t>{1, 3, 4, 5, 6}));
  EXPECT_EQ(cut.loss_mask, (std::vector<uint8_t>{0, 0, 0, 1, 1}));
  EXPECT_TRUE(cut.truncated);
  EXPECT_THROW(tasks::tokenize_example(tok, "what next", "Toy Story", 3), Error);
}
