// `userllm data ...` end to end through the built binary.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/atomic_file.h"
#include "data/dataset.h"
#include "test_util.h"

using namespace userllm;
using test::run_cli;

namespace {

std::string q(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

nlohmann::json stats(const std::filesystem::path& dir) {
  auto r = run_cli("-q data stats " + q(dir));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return nlohmann::json::parse(r.output);
}

size_t count_lines(const std::string& s) { return size_t(std::count(s.begin(), s.end(), '\n')); }

}  // namespace

TEST(DataCli, HelpEverywhere) {
  for (auto cmd : {"data", "data prepare", "data synth", "data stats", "data show", "data corpus"}) {
    auto r = run_cli(std::string(cmd) + " --help");
    EXPECT_EQ(r.exit_code, 0) << cmd << ": " << r.output;
    EXPECT_NE(r.output.find("Usage"), std::string::npos) << cmd;
  }
}

TEST(DataCli, SynthStatsShowCorpus) {
  test::ScratchDir dir;
  auto r = run_cli("-q data synth --out " + q(dir / "s") + " --users 50 --items 80 --events-per-user 30 --seed 3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (auto f : {"events.bin", "ground_truth.json", "config.json"}) EXPECT_TRUE(std::filesystem::exists(dir / "s" / f)) << f;

  nlohmann::json s = stats(dir / "s");
  for (auto key : {"users", "items", "events", "fields", "splits", "duplicates_removed", "skipped_lines"})
    EXPECT_TRUE(s.contains(key)) << key;
  auto ds = data::Dataset::open(dir / "s");
  EXPECT_EQ(s["users"], 50);
  EXPECT_EQ(s["events"], ds.num_events());
  EXPECT_EQ(s["items"], ds.num_items() - 2);
  EXPECT_EQ(s["fields"]["item"], ds.num_items());
  EXPECT_GE(s["fields"]["genre"].get<int>(), 12);  // of 18 genres (+ PAD, OOV), most occur in 80 items
  EXPECT_LE(s["fields"]["genre"].get<int>(), 20);
  EXPECT_TRUE(s["fields"].contains("rating"));
  EXPECT_EQ(s["splits"]["test"], 50);
  EXPECT_EQ(s["splits"]["validation"], 50);
  EXPECT_EQ(s["splits"]["train"].get<uint64_t>() + 100, ds.num_events());

  // show: dates, readable titles with years, genres, ratings; --last limits.
  r = run_cli("-q data show " + q(dir / "s") + " --user 7 --last 5");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(count_lines(r.output), 6u) << r.output;
  uint32_t u = *ds.find_user("7");
  uint32_t last_item = ds.column(0)[ds.user_end(u) - 1];
  std::string title = std::string(ds.item_title(last_item)) + " (" + std::to_string(ds.item_year(last_item)) + ")";
  EXPECT_NE(r.output.find(title), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("-"), std::string::npos);
  r = run_cli("-q data show " + q(dir / "s") + " --user nobody");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("nobody"), std::string::npos);

  // corpus: one line per item plus one per review text.
  r = run_cli("-q data corpus " + q(dir / "s") + " --out " + q(dir / "corpus.txt"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string corpus = read_file(dir / "corpus.txt");
  uint64_t texts = 0;
  for (uint64_t e = 0; e < ds.num_events(); ++e) texts += !ds.event_text(e).empty();
  EXPECT_EQ(count_lines(corpus), ds.num_items() - 2 + texts);
  EXPECT_NE(corpus.find(title + " is a"), std::string::npos);
  EXPECT_NE(corpus.find("A review of "), std::string::npos);
}

TEST(DataCli, SynthCsvPreparesAsMovieLens) {
  test::ScratchDir dir;
  ASSERT_EQ(run_cli("-q data synth --csv --out " + q(dir / "csv") + " --users 40 --items 60 --events-per-user 20").exit_code, 0);
  ASSERT_EQ(run_cli("-q data synth --out " + q(dir / "direct") + " --users 40 --items 60 --events-per-user 20").exit_code, 0);
  EXPECT_TRUE(std::filesystem::exists(dir / "csv" / "ratings.csv"));
  EXPECT_TRUE(std::filesystem::exists(dir / "csv" / "movies.csv"));
  auto r = run_cli("-q data prepare --format movielens --input " + q(dir / "csv") + " --out " + q(dir / "ml"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto a = stats(dir / "direct"), b = stats(dir / "ml");
  EXPECT_EQ(a["events"], b["events"]);
  EXPECT_EQ(a["users"], b["users"]);
  EXPECT_EQ(a["items"], b["items"]);
  EXPECT_EQ(a["fields"], b["fields"]);
  EXPECT_EQ(a["splits"], b["splits"]);
  auto config = nlohmann::json::parse(read_file(dir / "ml" / "config.json"));
  EXPECT_EQ(config["options"]["format"], "movielens");
}

TEST(DataCli, BadInputFailsCleanlyWithoutOutput) {
  test::ScratchDir dir;
  std::filesystem::create_directories(dir / "empty");
  std::ofstream(dir / "empty" / "ratings.csv") << "userId,movieId,rating,timestamp\n";
  std::ofstream(dir / "empty" / "movies.csv") << "movieId,title,genres\n1,Heat (1995),Crime\n";

  auto r = run_cli("-q data prepare --format netflix --input " + q(dir / "empty") + " --out " + q(dir / "o1"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("unknown --format \"netflix\""), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "o1"));

  r = run_cli("-q data prepare --format movielens --input " + q(dir / "empty") + " --out " + q(dir / "o2"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("ratings.csv"), std::string::npos) << r.output;  // the reader names the empty file
  EXPECT_FALSE(std::filesystem::exists(dir / "o2"));

  // Every line skipped as bad: zero events reach the builder.
  std::ofstream(dir / "empty" / "ratings.csv") << "userId,movieId,rating,timestamp\nnot,a,rating,line\n";
  r = run_cli("-q data prepare --format movielens --skip-bad-lines --input " + q(dir / "empty") + " --out " +
              q(dir / "o4"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("no events"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "o4"));

  r = run_cli("-q data prepare --format movielens --input " + q(dir / "missing") + " --out " + q(dir / "o3"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("missing"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "o3"));

  r = run_cli("-q data stats " + q(dir / "empty"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("events.bin"), std::string::npos) << r.output;

  // Only the empty input directory is left: no temporary directories either.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

TEST(DataCli, MovieLensLatestSmall) {
  USERLLM_SHARED_OR_SKIP(ml, "data/movielens-latest-small");
  test::ScratchDir dir;
  auto r = run_cli("-q data prepare --format movielens --input " + q(ml) + " --out " + q(dir / "ml"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  nlohmann::json s = stats(dir / "ml");
  EXPECT_EQ(s["users"], 610);
  EXPECT_EQ(s["items"], 9724);
  EXPECT_EQ(s["events"], 100836);
  EXPECT_EQ(s["fields"]["item"], 9724 + 2);
  EXPECT_EQ(s["fields"]["rating"], 10 + 2);  // 0.5 .. 5.0
  EXPECT_EQ(s["fields"]["genre"], 19 + 2);   // 19 genres rated (IMAX included)
  EXPECT_EQ(s["splits"]["test"], 610);
  EXPECT_EQ(s["skipped_lines"], 0);

  r = run_cli("-q data show " + q(dir / "ml") + " --user 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(count_lines(r.output), 232u + 1);
  EXPECT_NE(r.output.find("Toy Story (1995)  [Adventure|Animation|Children|Comedy|Fantasy]  4.0"), std::string::npos)
      << r.output.substr(0, 2000);
  EXPECT_NE(r.output.find("2000-07-30"), std::string::npos);
}

TEST(DataCli, AmazonBeautyDeduplicates) {
  USERLLM_SHARED_OR_SKIP(reviews, "data/amazon-2018-all-beauty-5core/All_Beauty_5.json.gz");
  test::ScratchDir dir;
  auto r = run_cli("-q data prepare --format amazon --input " + q(reviews) + " --out " + q(dir / "a"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  nlohmann::json s = stats(dir / "a");
  EXPECT_EQ(s["items"], 85);
  EXPECT_EQ(s["users"], 991);
  EXPECT_GT(s["duplicates_removed"].get<int>(), 0);
  EXPECT_EQ(s["events"].get<int>() + s["duplicates_removed"].get<int>(), 5269);
  EXPECT_TRUE(s["has_text"].get<bool>());
}
