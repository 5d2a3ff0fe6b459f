// Task examples: history ranges per split, prompts and answers, the favourite
// genre rule (multi-valued genres, ties to the most recent), review targets.
#include <gtest/gtest.h>

#include "common/error.h"
#include "data/test_dataset_util.h"
#include "tasks/task.h"
#include "test_util.h"

using namespace userllm;
using userllm::test::Row;

namespace {

// User a: 6 events; user b: 3 events, the last with a review.
data::Dataset small_dataset(const std::filesystem::path& dir) {
  std::vector<Row> rows = {
      {"a", 1, "m1", 4}, {"a", 2, "m2", 3.5}, {"a", 3, "m3", 5}, {"a", 4, "m4", 2},
      {"a", 5, "m1", 4}, {"a", 6, "m5", 1},   {"b", 1, "m2", 4}, {"b", 2, "m3", 4},
      {"b", 3, "m4", 4.5, "loved it"},
  };
  std::vector<std::pair<std::string, std::vector<std::string>>> genres = {
      {"m1", {"Comedy", "Drama"}}, {"m2", {"Action"}}, {"m3", {"Action", "Drama"}},
      {"m4", {"Comedy"}},          {"m5", {"Horror"}},
  };
  return test::build_dataset(dir, rows, {}, genres);
}

uint32_t item_id(const data::Dataset& ds, const char* key) { return *ds.lookup(ds.field_index("item"), key); }
uint32_t genre_id(const data::Dataset& ds, const char* g) { return *ds.lookup(ds.field_index("genre"), g); }

}  // namespace

TEST(Tasks, ParseNames) {
  for (auto k : {tasks::TaskKind::kNextItem, tasks::TaskKind::kFavoriteGenre, tasks::TaskKind::kReview})
    EXPECT_EQ(tasks::parse_task(tasks::task_name(k)), k);
  EXPECT_THROW(tasks::parse_task("next_item"), Error);
}

TEST(Tasks, NextItemSplitsAndHistory) {
  test::ScratchDir dir;
  auto ds = small_dataset(dir / "ds");
  uint32_t a = *ds.find_user("a");
  tasks::TaskOptions opts;
  opts.history = 3;
  auto test_ex = tasks::build_examples(ds, opts, data::Split::kTest);
  ASSERT_EQ(test_ex.size(), 2u);
  const tasks::Example& ea = test_ex[0].user == a ? test_ex[0] : test_ex[1];
  EXPECT_EQ(ea.target, ds.user_end(a) - 1);
  EXPECT_EQ(ea.end, ea.target);
  EXPECT_EQ(ea.begin, ea.target - 3);
  EXPECT_EQ(ea.item, item_id(ds, "m5"));
  EXPECT_EQ(ea.answer, "Title m5");
  EXPECT_EQ(ea.prompt, "Based on the user's history, the next movie they will watch is:");

  auto val = tasks::build_examples(ds, opts, data::Split::kValidation);
  ASSERT_EQ(val.size(), 2u);
  for (const auto& ex : val) EXPECT_EQ(ex.target, ds.user_end(ex.user) - 2);

  // Train targets: a's latest two train events (b has one train event and no history before it).
  opts.max_train_per_user = 2;
  auto train = tasks::build_examples(ds, opts, data::Split::kTrain);
  ASSERT_EQ(train.size(), 2u);
  EXPECT_EQ(train[0].target, ds.user_begin(a) + 2);
  EXPECT_EQ(train[1].target, ds.user_begin(a) + 3);
  EXPECT_EQ(train[0].begin, ds.user_begin(a));  // history clipped at the user's first event
  opts.max_train_per_user = 0;
  EXPECT_EQ(tasks::build_examples(ds, opts, data::Split::kTrain).size(), 3u);  // targets 1..3 of a

  // --min-history: b's test target has two events before it, a's has five (three read).
  opts.min_history = 3;
  auto long_only = tasks::build_examples(ds, opts, data::Split::kTest);
  ASSERT_EQ(long_only.size(), 1u);
  EXPECT_EQ(long_only[0].user, a);
  EXPECT_EQ(tasks::build_examples(ds, opts, data::Split::kTrain).size(), 1u);  // a's target 3 only
  // It counts every earlier event, not only the L read: the same users at a shorter history.
  opts.history = 1;
  long_only = tasks::build_examples(ds, opts, data::Split::kTest);
  ASSERT_EQ(long_only.size(), 1u);
  EXPECT_EQ(long_only[0].end - long_only[0].begin, 1u);
}

TEST(Tasks, FavoriteGenreCountsEveryGenreAndBreaksTiesByRecency) {
  test::ScratchDir dir;
  auto ds = small_dataset(dir / "ds");
  uint32_t a = *ds.find_user("a");
  uint64_t b0 = ds.user_begin(a);
  // m1 m2: Comedy 1, Drama 1, Action 1 -> Action, the most recent.
  EXPECT_EQ(tasks::favorite_genre(ds, b0, b0 + 2), genre_id(ds, "Action"));
  // m2 m3 m4: Action 2 (m3 counts for Action and Drama), Drama 1, Comedy 1 -> Action.
  EXPECT_EQ(tasks::favorite_genre(ds, b0 + 1, b0 + 4), genre_id(ds, "Action"));
  // m3 m4: Action 1, Drama 1, Comedy 1 -> Comedy (m4) is the most recent.
  EXPECT_EQ(tasks::favorite_genre(ds, b0 + 2, b0 + 4), genre_id(ds, "Comedy"));
  // m4 m1 m5: Comedy 2 beats the more recent Horror 1.
  EXPECT_EQ(tasks::favorite_genre(ds, b0 + 3, b0 + 6), genre_id(ds, "Comedy"));
  EXPECT_EQ(tasks::favorite_genre(ds, b0, b0), data::kPadId);

  tasks::TaskOptions opts;
  opts.kind = tasks::TaskKind::kFavoriteGenre;
  opts.history = 2;
  auto ex = tasks::make_example(ds, opts, a, b0 + 4);  // history m3 m4
  ASSERT_TRUE(ex);
  EXPECT_EQ(ex->genre, genre_id(ds, "Comedy"));
  EXPECT_EQ(ex->answer, "Comedy");
  EXPECT_EQ(ex->prompt, "Based on the user's history, their favourite genre is:");
  EXPECT_FALSE(ex->true_genre);
  data::GroundTruth gt;
  gt.favorite_genre_now.assign(ds.num_users(), genre_id(ds, "Horror"));
  ex = tasks::make_example(ds, opts, a, b0 + 4, &gt);
  ASSERT_TRUE(ex && ex->true_genre);
  EXPECT_EQ(*ex->true_genre, genre_id(ds, "Horror"));
}

TEST(Tasks, ReviewNeedsText) {
  test::ScratchDir dir;
  auto ds = small_dataset(dir / "ds");
  tasks::TaskOptions opts;
  opts.kind = tasks::TaskKind::kReview;
  auto ex = tasks::build_examples(ds, opts, data::Split::kTest);
  ASSERT_EQ(ex.size(), 1u);  // only b's last event has a review
  EXPECT_EQ(ex[0].user, *ds.find_user("b"));
  EXPECT_EQ(ex[0].review, "loved it");
  EXPECT_EQ(ex[0].answer, "loved it");
  EXPECT_EQ(ex[0].prompt, "Write the user's review of Title m4, rated 4.5 stars:");
}

TEST(Tasks, RejectsBadArguments) {
  test::ScratchDir dir;
  auto ds = small_dataset(dir / "ds");
  tasks::TaskOptions opts;
  opts.history = 0;
  EXPECT_THROW(tasks::make_example(ds, opts, 0, ds.user_begin(0) + 1), Error);
  opts.history = 5;
  EXPECT_THROW(tasks::make_example(ds, opts, 0, ds.user_end(0)), Error);
  EXPECT_THROW(tasks::make_example(ds, opts, ds.num_users(), 0), Error);
  EXPECT_FALSE(tasks::make_example(ds, opts, 0, ds.user_begin(0)));  // no history
}
