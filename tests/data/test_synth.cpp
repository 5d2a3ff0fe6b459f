// The synthetic generator: determinism, ground truth, a plausible catalogue,
// and the MovieLens CSV round trip through the real reader.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/error.h"
#include "data/readers.h"
#include "data/synth.h"
#include "test_dataset_util.h"
#include "test_util.h"

using namespace userllm;
using namespace userllm::data;

namespace {

SynthOptions small(uint64_t seed = 7) {
  SynthOptions o;
  o.users = 300;
  o.items = 400;
  o.events_per_user = 80;
  o.seed = seed;
  return o;
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

uint64_t file_hash(const std::filesystem::path& p) { return fnv1a(read_file(p)); }

}  // namespace

TEST(Synth, SameSeedSameBytes) {
  test::ScratchDir dir;
  write_synthetic_dataset(small(7), dir / "a");
  write_synthetic_dataset(small(7), dir / "b");
  write_synthetic_dataset(small(8), dir / "c");
  for (auto f : {"events.bin", "ground_truth.json"}) {
    EXPECT_EQ(file_hash(dir / "a" / f), file_hash(dir / "b" / f)) << f;
    EXPECT_NE(file_hash(dir / "a" / f), file_hash(dir / "c" / f)) << f;
  }
  write_synthetic_csv(small(7), dir / "x");
  write_synthetic_csv(small(7), dir / "y");
  for (auto f : {"ratings.csv", "movies.csv", "ground_truth.json"})
    EXPECT_EQ(file_hash(dir / "x" / f), file_hash(dir / "y" / f)) << f;
  EXPECT_EQ(file_hash(dir / "a" / "ground_truth.json"), file_hash(dir / "x" / "ground_truth.json"));
}

TEST(Synth, CatalogueAndEventsLookReal) {
  test::ScratchDir dir;
  write_synthetic_dataset(small(), dir / "d");
  Dataset ds = Dataset::open(dir / "d");
  EXPECT_EQ(ds.name(), "synthetic");
  EXPECT_EQ(ds.num_users(), 300u);
  EXPECT_GT(ds.num_events(), 300u * 60);
  EXPECT_LT(ds.num_events(), 300u * 100);
  int gf = ds.field_index("genre"), rf = ds.field_index("rating");
  ASSERT_GE(gf, 0);
  ASSERT_GE(rf, 0);
  EXPECT_EQ(ds.fields()[gf].vocab_size, 18u + 2);
  uint64_t lengths_min = UINT64_MAX, lengths_max = 0;
  for (uint32_t u = 0; u < ds.num_users(); ++u) {
    lengths_min = std::min(lengths_min, ds.user_end(u) - ds.user_begin(u));
    lengths_max = std::max(lengths_max, ds.user_end(u) - ds.user_begin(u));
  }
  EXPECT_LT(lengths_min * 2, lengths_max);  // history lengths vary
  for (uint32_t i = 2; i < ds.num_items(); ++i) {
    std::string title(ds.item_title(i));
    EXPECT_NE(title.find(' '), std::string::npos) << title;
    EXPECT_GE(ds.item_year(i), 1940);
    EXPECT_LE(ds.item_year(i), 2024);
    auto g = ds.item_genres(i);
    EXPECT_GE(g.size(), 1u);
    EXPECT_LE(g.size(), 3u);
  }
  // Zipf popularity: the top tenth of items draws a large share of events.
  std::vector<uint64_t> count(ds.num_items());
  std::map<std::string, uint64_t> ratings;
  uint64_t with_text = 0;
  for (uint64_t e = 0; e < ds.num_events(); ++e) {
    ++count[ds.column(0)[e]];
    ++ratings[std::string(ds.token(rf, ds.column(rf)[e]))];
    with_text += !ds.event_text(e).empty();
  }
  std::sort(count.rbegin(), count.rend());
  uint64_t top = 0;
  for (size_t i = 0; i < count.size() / 10; ++i) top += count[i];
  EXPECT_GT(double(top) / ds.num_events(), 0.3);
  for (const auto& [tok, n] : ratings) {
    double r = std::stod(tok);
    EXPECT_GE(r, 0.5);
    EXPECT_LE(r, 5.0);
  }
  EXPECT_GE(ratings.size(), 6u);
  EXPECT_GT(with_text, ds.num_events() / 5);
  EXPECT_LT(with_text, ds.num_events() / 2);
}

TEST(Synth, GroundTruthIsLearnableButNotTrivial) {
  test::ScratchDir dir;
  write_synthetic_dataset(small(), dir / "d");
  Dataset ds = Dataset::open(dir / "d");
  auto gt = read_ground_truth(ds, dir / "d");
  ASSERT_TRUE(gt.has_value());
  ASSERT_EQ(gt->favorite_genre_now.size(), ds.num_users());
  int gf = ds.field_index("genre");
  std::map<uint32_t, int> classes;
  for (uint32_t g : gt->favorite_genre_now) {
    EXPECT_GE(g, 2u);
    EXPECT_LT(g, ds.fields()[gf].vocab_size);
    ++classes[g];
  }
  int majority = 0;
  for (const auto& [g, n] : classes) majority = std::max(majority, n);
  EXPECT_GE(classes.size(), 8u);
  // A simple reader of recent history (most common genre of any item among the
  // last 30 events) beats the majority class by far, but is not always right.
  int right = 0, right_early = 0;
  for (uint32_t u = 0; u < ds.num_users(); ++u) {
    auto vote = [&](uint64_t b, uint64_t e) {
      std::map<uint32_t, int> votes;
      for (uint64_t i = b; i < e; ++i)
        for (uint32_t g : ds.item_genres(ds.column(0)[i])) ++votes[g];
      return std::max_element(votes.begin(), votes.end(), [](auto& a, auto& b) { return a.second < b.second; })->first;
    };
    uint64_t b = ds.user_begin(u), e = ds.user_end(u);
    right += vote(e - 30, e) == gt->favorite_genre_now[u];
    right_early += vote(b, b + 30) == gt->favorite_genre_now[u];
  }
  double acc = double(right) / ds.num_users(), base = double(majority) / ds.num_users();
  EXPECT_GT(acc, base + 0.2) << "majority " << base;
  EXPECT_LT(acc, 0.97);
  EXPECT_LT(right_early, right);  // tastes drift: old history is a worse guide
  // No ground truth beside real data.
  auto rows = std::vector<test::Row>{{"u", 1, "a"}};
  Dataset real = test::build_dataset(dir / "r", rows);
  EXPECT_FALSE(read_ground_truth(real, dir / "r").has_value());
}

TEST(Synth, GroundTruthFileRecordsTrajectories) {
  test::ScratchDir dir;
  write_synthetic_csv(small(), dir / "csv");
  auto j = nlohmann::json::parse(read_file(dir / "csv" / "ground_truth.json"));
  ASSERT_EQ(j["users"].size(), 300u);
  ASSERT_EQ(j["genres"].size(), 18u);
  const auto& u1 = j["users"]["1"];
  ASSERT_EQ(u1["trajectory"].size(), 5u);
  EXPECT_EQ(u1["trajectory"][4]["favorite"], u1["favorite_now"]);
  int drifted = 0;
  for (const auto& [key, u] : j["users"].items()) drifted += u["trajectory"][0]["favorite"] != u["favorite_now"];
  EXPECT_GT(drifted, 60);   // many users' taste moved
  EXPECT_LT(drifted, 270);  // but not all
}

TEST(Synth, MovieLensCsvRoundTrip) {
  test::ScratchDir dir;
  write_synthetic_dataset(small(), dir / "direct");
  write_synthetic_csv(small(), dir / "csv");
  LogBuilder builder("movielens", "genre");
  read_movielens(dir / "csv", builder, {});
  builder.finish({}, dir / "prepared");
  Dataset a = Dataset::open(dir / "direct"), b = Dataset::open(dir / "prepared");
  ASSERT_EQ(a.num_users(), b.num_users());
  ASSERT_EQ(a.num_events(), b.num_events());
  ASSERT_EQ(a.num_items(), b.num_items());
  int ag = a.field_index("genre"), bg = b.field_index("genre");
  int ar = a.field_index("rating"), br = b.field_index("rating");
  for (uint32_t u = 0; u < a.num_users(); ++u) {
    ASSERT_EQ(a.user_key(u), b.user_key(u));
    for (uint64_t e = a.user_begin(u); e < a.user_end(u); ++e) {
      ASSERT_EQ(a.timestamps()[e], b.timestamps()[e]);
      ASSERT_EQ(a.token(0, a.column(0)[e]), b.token(0, b.column(0)[e]));
      ASSERT_EQ(a.token(ar, a.column(ar)[e]), b.token(br, b.column(br)[e]));
      ASSERT_EQ(a.token(ag, a.column(ag)[e]), b.token(bg, b.column(bg)[e]));
    }
  }
  for (uint32_t i = 2; i < a.num_items(); ++i) {
    ASSERT_EQ(a.item_title(i), b.item_title(i));
    ASSERT_EQ(a.item_year(i), b.item_year(i));
    ASSERT_EQ(a.item_genres(i).size(), b.item_genres(i).size());
  }
  // Ground truth keyed by user id works for the CSV copy too.
  auto gt_a = read_ground_truth(a, dir / "direct"), gt_b = read_ground_truth(b, dir / "csv");
  ASSERT_TRUE(gt_a && gt_b);
  EXPECT_EQ(gt_a->favorite_genre_now, gt_b->favorite_genre_now);
}

TEST(Synth, RejectsEmptySizes) {
  test::ScratchDir dir;
  SynthOptions o = small();
  o.users = 0;
  EXPECT_THROW(write_synthetic_dataset(o, dir / "d"), Error);
  EXPECT_FALSE(std::filesystem::exists(dir / "d"));
}
