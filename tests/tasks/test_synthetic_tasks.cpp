// Tasks on the built-in synthetic data: every user gets a test example, and
// the favourite-genre task carries the generator's ground truth.
#include <gtest/gtest.h>

#include <algorithm>

#include "data/synth.h"
#include "tasks/task.h"
#include "test_util.h"

using namespace userllm;

TEST(SyntheticTasks, FavoriteGenreWithGroundTruth) {
  test::ScratchDir dir;
  data::SynthOptions so;
  so.users = 30;
  so.items = 80;
  so.events_per_user = 40;
  data::write_synthetic_dataset(so, dir / "synth");
  auto ds = data::Dataset::open(dir / "synth");
  auto gt = data::read_ground_truth(ds, dir / "synth");
  ASSERT_TRUE(gt);
  tasks::TaskOptions opts;
  opts.kind = tasks::TaskKind::kFavoriteGenre;
  opts.history = 20;
  auto ex = tasks::build_examples(ds, opts, data::Split::kTest, &*gt);
  ASSERT_EQ(ex.size(), ds.num_users());
  int gf = ds.field_index(ds.genre_field());
  ASSERT_GE(gf, 0);
  size_t agree = 0;
  for (const auto& e : ex) {
    EXPECT_EQ(e.end - e.begin, std::min<uint64_t>(20, e.target - ds.user_begin(e.user)));
    EXPECT_EQ(e.target, ds.user_end(e.user) - 1);
    ASSERT_TRUE(e.true_genre);
    EXPECT_EQ(e.answer, std::string(ds.token(gf, e.genre)));
    agree += *e.true_genre == e.genre;
  }
  // The planted favourite drives what users watch: the history's most frequent
  // genre should usually be it (a loose bound; it drifts and items have several genres).
  EXPECT_GT(agree, ex.size() / 4);
  opts.kind = tasks::TaskKind::kReview;
  for (const auto& e : tasks::build_examples(ds, opts, data::Split::kValidation)) EXPECT_FALSE(e.review.empty());
  opts.kind = tasks::TaskKind::kNextItem;
  for (const auto& e : tasks::build_examples(ds, opts, data::Split::kTest))
    EXPECT_EQ(e.answer, std::string(ds.item_title(e.item)));
}
