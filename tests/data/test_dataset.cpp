// LogBuilder processing and the Dataset read side: vocabularies, ordering,
// duplicates, k-core, splits and training windows.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "data/vocab.h"
#include "test_dataset_util.h"
#include "test_util.h"

using namespace userllm;
using namespace userllm::data;
using test::build_dataset;
using test::items_of;
using test::Row;

TEST(Vocab, InternerGivesDenseIdsInFirstSeenOrder) {
  Interner in;
  EXPECT_EQ(in.intern("b"), 0u);
  EXPECT_EQ(in.intern("a"), 1u);
  EXPECT_EQ(in.intern("b"), 0u);
  for (int i = 0; i < 5000; ++i) in.intern("k" + std::to_string(i));  // forces several rehashes
  EXPECT_EQ(in.size(), 5002u);
  EXPECT_EQ(in.find("k4999").value(), 5001u);
  EXPECT_EQ(in.str(1), "a");
  EXPECT_FALSE(in.find("zzz").has_value());
}

TEST(Vocab, OrderedByCountThenStringWithMinCount) {
  Interner in;
  for (auto s : {"x", "y", "z", "w"}) in.intern(s);
  Vocab v = build_vocab(in, {3, 5, 1, 3}, 2);
  EXPECT_EQ(v.size(), 5u);     // PAD, OOV, y, w, x
  EXPECT_EQ(v.remap[1], 2u);   // y: most frequent
  EXPECT_EQ(v.remap[3], 3u);   // w before x on the tie
  EXPECT_EQ(v.remap[0], 4u);
  EXPECT_EQ(v.remap[2], kOovId);  // z below min-count
}

TEST(Vocab, RatingTokensInHalfSteps) {
  EXPECT_EQ(rating_token(rating_code(4.5f)), "4.5");
  EXPECT_EQ(rating_token(rating_code(3.0f)), "3.0");
  EXPECT_EQ(rating_token(rating_code(0.5f)), "0.5");
  EXPECT_THROW(rating_code(-1.0f), Error);
  EXPECT_THROW(rating_code(std::nanf("")), Error);
}

TEST(Dataset, FieldsVocabulariesAndMinCount) {
  test::ScratchDir dir;
  PrepareOptions opt;
  opt.min_token_count = 2;
  auto ds = build_dataset(dir / "d",
                          {{"u1", 1, "a", 4}, {"u1", 2, "b", 3.5}, {"u2", 1, "a", 4}, {"u2", 5, "c", 4}},
                          opt, {{"a", {"Drama"}}, {"b", {"Comedy"}}, {"c", {"Drama", "War"}}});
  EXPECT_EQ(ds.name(), "movielens");
  ASSERT_EQ(ds.fields().size(), 3u);
  EXPECT_EQ(ds.fields()[0].name, "item");
  int rf = ds.field_index("rating"), gf = ds.field_index("genre");
  ASSERT_GE(rf, 0);
  ASSERT_GE(gf, 0);
  EXPECT_EQ(ds.field_index("category"), -1);
  EXPECT_EQ(ds.num_items(), 3u);  // PAD, OOV, a (b and c seen once)
  EXPECT_EQ(ds.token(0, kPadId), "<pad>");
  EXPECT_EQ(ds.token(0, kOovId), "<oov>");
  EXPECT_EQ(ds.lookup(0, "a").value(), 2u);
  EXPECT_FALSE(ds.lookup(0, "b").has_value());
  EXPECT_EQ(items_of(ds, 0), (std::vector<std::string>{"a", "<oov>"}));
  EXPECT_EQ(ds.token(rf, ds.column(rf)[0]), "4.0");
  EXPECT_EQ(ds.column(rf)[1], kOovId);  // 3.5 seen once
  // Genre counts are events of items carrying it: Drama 3, Comedy 1, War 1.
  EXPECT_EQ(ds.fields()[gf].vocab_size, 3u);
  EXPECT_EQ(ds.token(gf, 2), "Drama");
  EXPECT_EQ(ds.item_title(2), "Title a");
  EXPECT_EQ(ds.item_year(2), 2000);
}

TEST(Dataset, EventGenreIsTheRarestOfTheItemsGenres) {
  test::ScratchDir dir;
  auto ds = build_dataset(dir / "d",
                          {{"u", 1, "a"}, {"u", 2, "b"}, {"u", 3, "c"}, {"u", 4, "d"}, {"u", 5, "e"}},
                          {}, {{"a", {"Drama"}}, {"b", {"Drama"}}, {"c", {"Drama", "War"}}, {"d", {"Comedy", "Film-Noir"}},
                               {"e", {"Comedy"}}});
  int gf = ds.field_index("genre");
  auto g = [&](uint64_t e) { return std::string(ds.token(gf, ds.column(gf)[e])); };
  EXPECT_EQ(g(0), "Drama");
  EXPECT_EQ(g(2), "War");        // War (1 event) is rarer than Drama (3)
  EXPECT_EQ(g(3), "Film-Noir");  // Comedy 2 vs Film-Noir 1
  EXPECT_EQ(g(4), "Comedy");
  auto genres = ds.item_genres(*ds.lookup(0, "c"));
  ASSERT_EQ(genres.size(), 2u);  // all genres kept, listing order
  EXPECT_EQ(ds.token(gf, genres[0]), "Drama");
  EXPECT_EQ(ds.token(gf, genres[1]), "War");
}

TEST(Dataset, ItemsWithoutCatalogueGetOovGenreAndKeyTitle) {
  test::ScratchDir dir;
  auto ds = build_dataset(dir / "d", {{"u", 1, "a"}, {"u", 2, "zz"}}, {}, {{"a", {"Drama"}}});
  int gf = ds.field_index("genre");
  EXPECT_EQ(ds.column(gf)[1], kOovId);
  EXPECT_EQ(ds.item_title(*ds.lookup(0, "zz")), "zz");
  EXPECT_EQ(ds.item_year(*ds.lookup(0, "zz")), 0);
}

TEST(Dataset, SortIsStableByTimePerUser) {
  test::ScratchDir dir;
  auto ds = build_dataset(dir / "d", {{"u1", 30, "c"}, {"u2", 5, "x"}, {"u1", 10, "a"}, {"u1", 30, "d"},
                                      {"u1", 10, "b"}, {"u1", 30, "e"}, {"u2", 1, "y"}});
  ASSERT_EQ(ds.num_users(), 2u);
  EXPECT_EQ(ds.user_key(0), "u1");
  EXPECT_EQ(items_of(ds, 0), (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(items_of(ds, 1), (std::vector<std::string>{"y", "x"}));
  for (uint64_t e = 1; e < 5; ++e) EXPECT_LE(ds.timestamps()[e - 1], ds.timestamps()[e]);
  EXPECT_EQ(ds.find_user("u2").value(), 1u);
  EXPECT_FALSE(ds.find_user("nobody").has_value());
}

TEST(Dataset, DedupeDropsExactDuplicatesOnly) {
  test::ScratchDir dir;
  std::vector<Row> rows = {{"u", 1, "a", 4, "great"}, {"u", 1, "a", 4, "great"}, {"u", 1, "a", 4, "other text"},
                           {"u", 1, "a", 5, "great"}, {"u", 2, "a", 4, "great"}, {"v", 1, "a", 4, "great"},
                           {"u", 1, "b", 4, "great"}, {"u", 1, "a", 4, "great"}};
  PrepareOptions opt;
  opt.dedupe = true;
  auto ds = build_dataset(dir / "d", rows, opt);
  EXPECT_EQ(ds.num_events(), 6u);
  auto meta = nlohmann::json::parse(ds.metadata_json());
  EXPECT_EQ(meta["report"]["duplicates_removed"], 2);
  EXPECT_EQ(ds.event_text(0), "great");  // the first copy stays, in place
  EXPECT_EQ(ds.event_text(1), "other text");
  auto kept = build_dataset(dir / "e", rows);  // off by default
  EXPECT_EQ(kept.num_events(), 8u);
}

TEST(Dataset, KCoreIteratesToAFixedPoint) {
  test::ScratchDir dir;
  // u1, u2: a b (the core). u3: a z y, u4: y. Round 1 drops z (1 event) and
  // u4 (1 event); then y has 1 event left, then u3 has 1: three rounds.
  std::vector<Row> rows;
  for (auto u : {"u1", "u2"})
    for (auto i : {"a", "b"}) rows.push_back({u, 1, i});
  rows.push_back({"u3", 1, "a"});
  rows.push_back({"u3", 2, "z"});
  rows.push_back({"u3", 3, "y"});
  rows.push_back({"u4", 3, "y"});
  PrepareOptions opt;
  opt.min_user_events = 2;
  opt.min_item_events = 2;
  auto ds = build_dataset(dir / "d", rows, opt);
  EXPECT_EQ(ds.num_users(), 2u);
  EXPECT_EQ(ds.num_events(), 4u);
  EXPECT_FALSE(ds.lookup(0, "y").has_value());
  EXPECT_FALSE(ds.lookup(0, "z").has_value());
  auto meta = nlohmann::json::parse(ds.metadata_json());
  EXPECT_EQ(meta["report"]["filtered_events"], 4);
  EXPECT_FALSE(ds.find_user("u3").has_value());
  // The result satisfies both thresholds.
  for (uint32_t u = 0; u < ds.num_users(); ++u) EXPECT_GE(ds.user_end(u) - ds.user_begin(u), 2u);
}

TEST(Dataset, NothingLeftIsAnErrorAndLeavesNoDirectory) {
  test::ScratchDir dir;
  PrepareOptions opt;
  opt.min_user_events = 10;
  EXPECT_THROW(build_dataset(dir / "d", {{"u", 1, "a"}}, opt), Error);
  EXPECT_FALSE(std::filesystem::exists(dir / "d"));
  data::LogBuilder empty("movielens", "genre");
  EXPECT_THROW(empty.finish({}, dir / "e"), Error);
  EXPECT_FALSE(std::filesystem::exists(dir / "e"));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 0);
}

TEST(Dataset, LeaveLastOutSplits) {
  test::ScratchDir dir;
  std::vector<Row> rows = {{"one", 1, "a"}, {"two", 1, "a"}, {"two", 2, "b"}};
  for (int t = 0; t < 5; ++t) rows.push_back({"five", t, "i" + std::to_string(t)});
  auto ds = build_dataset(dir / "d", rows);
  uint32_t one = *ds.find_user("one"), two = *ds.find_user("two"), five = *ds.find_user("five");
  for (uint32_t u : {one, two}) {  // fewer than 3 events: train only
    EXPECT_EQ(ds.split_begin(u, Split::kTrain), ds.user_begin(u));
    EXPECT_EQ(ds.split_end(u, Split::kTrain), ds.user_end(u));
    EXPECT_EQ(ds.split_begin(u, Split::kValidation), ds.split_end(u, Split::kValidation));
    EXPECT_EQ(ds.split_begin(u, Split::kTest), ds.split_end(u, Split::kTest));
  }
  uint64_t b = ds.user_begin(five);
  EXPECT_EQ(ds.split_end(five, Split::kTrain), b + 3);
  EXPECT_EQ(ds.split_begin(five, Split::kValidation), b + 3);
  EXPECT_EQ(ds.split_end(five, Split::kValidation), b + 4);
  EXPECT_EQ(ds.split_begin(five, Split::kTest), b + 4);
  EXPECT_EQ(ds.token(0, ds.column(0)[b + 4]), "i4");  // the latest event is the test one
  auto meta = nlohmann::json::parse(ds.metadata_json());
  EXPECT_EQ(meta["splits"]["train"], 1 + 2 + 3);
  EXPECT_EQ(meta["splits"]["validation"], 1);
  EXPECT_EQ(meta["splits"]["test"], 1);
}

TEST(Dataset, TrainingWindows) {
  test::ScratchDir dir;
  std::vector<Row> rows = {{"one", 1, "a"}};
  for (int t = 0; t < 12; ++t) rows.push_back({"long", t, "i" + std::to_string(t)});  // 10 train events
  auto ds = build_dataset(dir / "d", rows);
  uint32_t one = *ds.find_user("one"), lng = *ds.find_user("long");
  uint64_t b = ds.user_begin(lng);

  auto w = training_windows(ds, 4, 3);  // long: [0,4) [3,7) [6,10); one: [0,1)
  std::vector<std::pair<uint64_t, uint64_t>> got;
  for (const auto& x : w)
    if (x.user == lng) got.push_back({x.begin - b, x.end - b});
  EXPECT_EQ(got, (std::vector<std::pair<uint64_t, uint64_t>>{{0, 4}, {3, 7}, {6, 10}}));
  ASSERT_EQ(w.size(), 4u);
  for (const auto& x : w)
    if (x.user == one) EXPECT_EQ(x.end - x.begin, 1u);

  got.clear();  // stride 4 does not reach the end: the last window is moved to end there
  for (const auto& x : training_windows(ds, 4, 4))
    if (x.user == lng) got.push_back({x.begin - b, x.end - b});
  EXPECT_EQ(got, (std::vector<std::pair<uint64_t, uint64_t>>{{0, 4}, {4, 8}, {6, 10}}));

  auto whole = training_windows(ds, 50, 50);  // L longer than every history: one window each
  ASSERT_EQ(whole.size(), 2u);
  for (const auto& x : whole) {
    EXPECT_EQ(x.begin, ds.split_begin(x.user, Split::kTrain));
    EXPECT_EQ(x.end, ds.split_end(x.user, Split::kTrain));  // never reaches validation/test
  }
  EXPECT_THROW(training_windows(ds, 0, 1), Error);
  EXPECT_THROW(training_windows(ds, 4, 0), Error);
}

TEST(Dataset, TextIsKeptPerEvent) {
  test::ScratchDir dir;
  auto ds = build_dataset(dir / "d", {{"u", 2, "a", 4, ""}, {"u", 1, "b", 4, "first"}, {"u", 3, "c", 4, "third"}});
  EXPECT_EQ(ds.event_text(0), "first");
  EXPECT_EQ(ds.event_text(1), "");
  EXPECT_EQ(ds.event_text(2), "third");
  EXPECT_EQ(ds.event_summary(0), "");
  EXPECT_THROW(ds.event_text(3), Error);
  EXPECT_THROW(ds.user_begin(5), Error);
  EXPECT_THROW(ds.token(0, 99), Error);
}
