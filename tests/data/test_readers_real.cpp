// The readers on the real data in ../shared, against the facts in each
// folder's README.md (and movies.csv itself).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "data/readers.h"
#include "data/recording_sink.h"
#include "test_util.h"

using namespace userllm;
using namespace userllm::test;

TEST(RealData, MovieLensLatestSmall) {
  USERLLM_SHARED_OR_SKIP(dir, "data/movielens-latest-small");
  RecordingSink sink;
  data::read_movielens(dir, sink, {});
  EXPECT_EQ(sink.events.size(), 100836u);
  std::set<std::string> users, items;
  std::map<float, int> histogram;
  int64_t first = INT64_MAX, last = 0;
  for (auto& e : sink.events) {
    users.insert(e.user);
    items.insert(e.item);
    ++histogram[*e.rating];
    first = std::min(first, e.timestamp);
    last = std::max(last, e.timestamp);
  }
  EXPECT_EQ(users.size(), 610u);
  EXPECT_EQ(items.size(), 9724u);
  EXPECT_EQ(histogram, (std::map<float, int>{{0.5f, 1370}, {1.0f, 2811}, {1.5f, 1791}, {2.0f, 7551}, {2.5f, 5550},
                                             {3.0f, 20047}, {3.5f, 13136}, {4.0f, 26818}, {4.5f, 8551}, {5.0f, 13211}}));
  // README: from 1996-03-29 to 2018-09-24 (UTC).
  EXPECT_EQ(first / 86400, 9584);  // 1996-03-29, in days since 1970-01-01
  EXPECT_EQ(last / 86400, 17798);  // 2018-09-24
  EXPECT_EQ(sink.items.size(), 9742u);
  EXPECT_EQ(sink.report().lines_read, 100836u + 9742u + 3683u);
  EXPECT_EQ(sink.report().skipped_lines, 0u);

  // 1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy
  const Item* toy = sink.item("1");
  ASSERT_TRUE(toy);
  EXPECT_EQ(toy->title, "Toy Story");
  EXPECT_EQ(toy->year, 1995);
  EXPECT_EQ(toy->genres, (std::vector<std::string>{"Adventure", "Animation", "Children", "Comedy", "Fantasy"}));
  // tags.csv: 336,1,pixar / 474,1,pixar / 567,1,fun; the most used tag first.
  EXPECT_EQ(toy->description, "Tags: pixar, fun");
  // Star Wars has 26 tag lines; the description keeps ten.
  const std::string& star_wars = sink.item("260")->description;
  EXPECT_EQ(std::count(star_wars.begin(), star_wars.end(), ','), 9);
  // 29,"City of Lost Children, The (Cité des enfants perdus, La) (1995)",Adventure|Drama|Fantasy|Mystery|Sci-Fi
  const Item* city = sink.item("29");
  ASSERT_TRUE(city);
  EXPECT_EQ(city->title, "City of Lost Children, The (Cit\xC3\xA9 des enfants perdus, La)");
  EXPECT_EQ(city->year, 1995);
  EXPECT_EQ(city->genres.size(), 5u);
  // 40697,Babylon 5,Sci-Fi (no year)
  EXPECT_EQ(sink.item("40697")->title, "Babylon 5");
  EXPECT_EQ(sink.item("40697")->year, 0);
  // 143410,Hyena Road,(no genres listed)
  EXPECT_TRUE(sink.item("143410")->genres.empty());
  // 171749,Death Note: Desu nôto (2006–2007),(no genres listed)
  EXPECT_EQ(sink.item("171749")->year, 2006);
  // 193609,Andrew Dice Clay: Dice Rules (1991),Comedy (the last line)
  EXPECT_EQ(sink.item("193609")->title, "Andrew Dice Clay: Dice Rules");
  EXPECT_EQ(sink.item("193609")->year, 1991);
}

TEST(RealData, AmazonAllBeauty5Core) {
  USERLLM_SHARED_OR_SKIP(file, "data/amazon-2018-all-beauty-5core/All_Beauty_5.json.gz");
  RecordingSink sink;
  data::read_amazon(file, std::nullopt, sink, {});
  ASSERT_EQ(sink.events.size(), 5269u);
  EXPECT_EQ(sink.report().lines_read, 5269u);
  std::set<std::string> users, items;
  std::set<std::tuple<std::string, std::string, int64_t, std::string>> distinct;
  int empty_text = 0, empty_summary = 0, five_stars = 0;
  int64_t first = INT64_MAX, last = 0;
  for (auto& e : sink.events) {
    users.insert(e.user);
    items.insert(e.item);
    distinct.emplace(e.user, e.item, e.timestamp, e.text);
    empty_text += e.text.empty();
    empty_summary += e.summary.empty();
    five_stars += *e.rating == 5.0f;
    first = std::min(first, e.timestamp);
    last = std::max(last, e.timestamp);
  }
  EXPECT_EQ(users.size(), 991u);
  EXPECT_EQ(items.size(), 85u);
  EXPECT_EQ(empty_text, 5);  // rows without reviewText are events with empty text
  EXPECT_EQ(empty_summary, 5);
  EXPECT_EQ(five_stars, 4649);
  EXPECT_EQ(first, 1095724800);  // 2004-09-21
  EXPECT_EQ(last, 1534982400);   // 2018-08-23
  // Exact repeats on (reviewerID, asin, unixReviewTime, reviewText): the
  // 2018 release repeats reviews across product variants.
  EXPECT_EQ(sink.events.size() - distinct.size(), 1053u);
  EXPECT_EQ(sink.events[0].text, "As advertised. Reasonably priced");
}

TEST(RealData, GoogleLocalVermontMeta) {
  USERLLM_SHARED_OR_SKIP(file, "data/google-local-2021-vermont-meta/meta-Vermont.json.gz");
  RecordingSink sink;
  uint64_t n = data::read_google_local_meta(file, sink, {});
  EXPECT_EQ(n, 11291u);
  EXPECT_EQ(sink.report().lines_read, 11291u);
  // 48 gmap_ids appear twice (byte-identical records): the first is kept.
  EXPECT_EQ(sink.items.size(), 11243u);
  std::set<std::string> keys;
  std::map<std::string, int> category_count;
  int with_categories = 0;
  for (auto& it : sink.items) {
    keys.insert(it.key);
    with_categories += !it.genres.empty();
    for (auto& c : it.genres) ++category_count[c];
  }
  EXPECT_EQ(keys.size(), 11243u);
  // README: 11,250 of the 11,291 rows have a non-empty list; 48 of those are the repeats.
  EXPECT_EQ(with_categories, 11250 - 48);
  EXPECT_EQ(category_count.size(), 2002u);
  const Item* royal = sink.item("0x89e02445cb9db457:0x37f42bff4edf7a43");
  ASSERT_TRUE(royal);
  EXPECT_EQ(royal->title, "Royal Group");
  EXPECT_EQ(royal->genres.front(), "Security system supplier");
  EXPECT_EQ(royal->genres.size(), 5u);
}
