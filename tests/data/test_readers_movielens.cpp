// MovieLens readers on small fixtures in each release layout, and their errors.
#include <gtest/gtest.h>

#include "data/readers.h"
#include "data/recording_sink.h"
#include "test_util.h"

using namespace userllm;
using namespace userllm::test;
using data::ReadOptions;

namespace {

const char* kMovies =
    "movieId,title,genres\n"
    "1,Toy Story (1995),Adventure|Animation|Children\n"
    "11,\"American President, The (1995)\",Comedy|Drama|Romance\n"
    "12,\"Say \"\"Hi\"\" (2001) \",(no genres listed)\n"
    "13,Babylon 5,Sci-Fi\n"
    "14,Death Note: Desu n\xC3\xB4to (2006\xE2\x80\x93\x32\x30\x30\x37),Anime\n";

void write_csv_release(const ScratchDir& dir) {
  write_text(dir / "ratings.csv",
             "userId,movieId,rating,timestamp\n"
             "1,1,4.0,964982703\n"
             "1,11,0.5,964981247\n"
             "2,13,5.0,1445714994\n");
  write_text(dir / "movies.csv", kMovies);
  write_text(dir / "tags.csv",
             "userId,movieId,tag,timestamp\n"
             "2,1,pixar,1445714994\n"
             "3,1,\"funny, warm\",1445714996\n"
             "4,1,Pixar,1445714997\n");
}

}  // namespace

TEST(MovieLensReader, CsvReleaseEventsAndCatalogue) {
  ScratchDir dir;
  write_csv_release(dir);
  RecordingSink sink;
  data::read_movielens(dir.path(), sink, {});

  ASSERT_EQ(sink.events.size(), 3u);
  EXPECT_EQ(sink.events[1].user, "1");
  EXPECT_EQ(sink.events[1].item, "11");
  EXPECT_EQ(sink.events[1].rating, 0.5f);
  EXPECT_EQ(sink.events[1].timestamp, 964981247);
  EXPECT_TRUE(sink.events[1].text.empty());
  EXPECT_EQ(sink.report().lines_read, 3u + 5u + 3u);  // ratings, movies and tags data lines
  EXPECT_EQ(sink.report().skipped_lines, 0u);

  ASSERT_EQ(sink.items.size(), 5u);
  const Item* toy = sink.item("1");
  ASSERT_TRUE(toy);
  EXPECT_EQ(toy->title, "Toy Story");
  EXPECT_EQ(toy->year, 1995);
  EXPECT_EQ(toy->genres, (std::vector<std::string>{"Adventure", "Animation", "Children"}));
  // Tags merged case-insensitively, most used first, first spelling kept.
  EXPECT_EQ(toy->description, "Tags: pixar, funny, warm");
  const Item* president = sink.item("11");
  EXPECT_EQ(president->title, "American President, The");
  EXPECT_TRUE(president->description.empty());
  const Item* hi = sink.item("12");
  EXPECT_EQ(hi->title, "Say \"Hi\"");
  EXPECT_EQ(hi->year, 2001);
  EXPECT_TRUE(hi->genres.empty());
  EXPECT_EQ(sink.item("13")->title, "Babylon 5");
  EXPECT_EQ(sink.item("13")->year, 0);
  EXPECT_EQ(sink.item("14")->title, "Death Note: Desu n\xC3\xB4to");
  EXPECT_EQ(sink.item("14")->year, 2006);
}

TEST(MovieLensReader, RatingsFileGivenDirectlyAndColumnsByName) {
  ScratchDir dir;
  // Columns in another order, behind a UTF-8 byte-order mark.
  write_text(dir / "ratings.csv", "\xEF\xBB\xBFtimestamp,rating,movieId,userId\n964982703,3.5,7,42\n");
  RecordingSink sink;
  data::read_movielens(dir / "ratings.csv", sink, {});
  ASSERT_EQ(sink.events.size(), 1u);
  EXPECT_EQ(sink.events[0].user, "42");
  EXPECT_EQ(sink.events[0].item, "7");
  EXPECT_EQ(sink.events[0].rating, 3.5f);
  EXPECT_EQ(sink.events[0].timestamp, 964982703);
  EXPECT_TRUE(sink.items.empty());  // no movies.csv: events only
}

TEST(MovieLensReader, DatReleaseLatin1) {
  ScratchDir dir;
  write_text(dir / "ratings.dat", "1::1193::5::978300760\n1::29::3::978302109\n");
  // 0xE9 is Latin-1 "é"; ml-1m titles contain ":" but never "::".
  write_text(dir / "movies.dat",
             "29::City of Lost Children, The (Cit\xE9 des enfants perdus, La) (1995)::Adventure|Sci-Fi\n"
             "1193::Star Wars: Episode IV - A New Hope (1977)::Action\n");
  write_text(dir / "tags.dat", "15::29::dreamlike::1215184630\n");
  RecordingSink sink;
  data::read_movielens(dir.path(), sink, {});
  ASSERT_EQ(sink.events.size(), 2u);
  EXPECT_EQ(sink.events[0].item, "1193");
  EXPECT_EQ(sink.events[0].rating, 5.0f);
  const Item* city = sink.item("29");
  ASSERT_TRUE(city);
  EXPECT_EQ(city->title, "City of Lost Children, The (Cit\xC3\xA9 des enfants perdus, La)");
  EXPECT_EQ(city->year, 1995);
  EXPECT_EQ(city->genres, (std::vector<std::string>{"Adventure", "Sci-Fi"}));
  EXPECT_EQ(city->description, "Tags: dreamlike");
  EXPECT_EQ(sink.item("1193")->title, "Star Wars: Episode IV - A New Hope");
}

TEST(MovieLensReader, Ml100k) {
  ScratchDir dir;
  write_text(dir / "u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n");
  std::string flags_kolya = "|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0";  // Comedy
  std::string flags_unknown = "|1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0";
  write_text(dir / "u.item",
             "242|Kolya (1996)|24-Jan-1997||http://us.imdb.com/M/title-exact?Kolya%20(1996)" + flags_kolya + "\n" +
                 "302|L.A. Confidential (1997)|01-Jan-1997||http://x" + "|0|0|0|0|0|0|1|0|0|0|1|0|0|1|0|0|1|0|0\n" +
                 "267|unknown||||" + flags_unknown.substr(1) + "\n" +
                 "1300|'Til Th\xE9re Was You|30-May-1997||http://x" + flags_kolya + "\n");
  RecordingSink sink;
  data::read_movielens(dir.path(), sink, {});
  ASSERT_EQ(sink.events.size(), 2u);
  EXPECT_EQ(sink.events[0].user, "196");
  EXPECT_EQ(sink.events[0].item, "242");
  EXPECT_EQ(sink.events[0].rating, 3.0f);
  EXPECT_EQ(sink.events[0].timestamp, 881250949);
  ASSERT_EQ(sink.items.size(), 4u);
  EXPECT_EQ(sink.item("242")->title, "Kolya");
  EXPECT_EQ(sink.item("242")->year, 1996);
  EXPECT_EQ(sink.item("242")->genres, std::vector<std::string>{"Comedy"});
  EXPECT_EQ(sink.item("302")->genres, (std::vector<std::string>{"Crime", "Film-Noir", "Mystery", "Thriller"}));
  EXPECT_TRUE(sink.item("267")->genres.empty());  // the "unknown" flag is no genre
  EXPECT_EQ(sink.item("1300")->title, "'Til Th\xC3\xA9re Was You");
  EXPECT_EQ(sink.item("1300")->year, 1997);  // from the release date
}

TEST(MovieLensReader, GzipRatings) {
  ScratchDir dir;
  write_gzip(dir / "ratings.csv", "userId,movieId,rating,timestamp\n5,6,2.5,1000\n");
  RecordingSink sink;
  data::read_movielens(dir.path(), sink, {});
  ASSERT_EQ(sink.events.size(), 1u);
  EXPECT_EQ(sink.events[0].rating, 2.5f);
}

TEST(MovieLensReader, BadLinesNameFileAndLine) {
  ScratchDir dir;
  auto ratings_error = [&](const std::string& body) {
    write_text(dir / "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n" + body);
    RecordingSink sink;
    return error_of([&] { data::read_movielens(dir.path(), sink, {}); });
  };
  std::string e = ratings_error("1,2,3.0\n");
  EXPECT_NE(e.find("ratings.csv:3: expected 4 comma-separated fields, found 3"), std::string::npos) << e;
  e = ratings_error("1,2,abc,964982703\n");
  EXPECT_NE(e.find("ratings.csv:3: rating \"abc\" is not a number"), std::string::npos) << e;
  e = ratings_error("1,2,7,964982703\n");
  EXPECT_NE(e.find("ratings.csv:3: rating 7 is outside 0.5-5"), std::string::npos) << e;
  e = ratings_error("1,2,3.7,964982703\n");
  EXPECT_NE(e.find("ratings.csv:3: rating 3.7 is not in 0.5 steps"), std::string::npos) << e;
  e = ratings_error("1,x2,3,964982703\n");
  EXPECT_NE(e.find("ratings.csv:3: movieId \"x2\" is not an integer"), std::string::npos) << e;
  e = ratings_error("1,2,3,yesterday\n");
  EXPECT_NE(e.find("ratings.csv:3: timestamp \"yesterday\" is not an integer"), std::string::npos) << e;

  write_text(dir / "ratings.csv", "userId,movieId,timestamp\n1,1,964982703\n");
  RecordingSink sink;
  e = error_of([&] { data::read_movielens(dir.path(), sink, {}); });
  EXPECT_NE(e.find("ratings.csv:1: missing column \"rating\""), std::string::npos) << e;

  write_text(dir / "ratings.csv", "");
  e = error_of([&] { data::read_movielens(dir.path(), sink, {}); });
  EXPECT_NE(e.find("ratings.csv: empty file, expected a header line"), std::string::npos) << e;

  write_text(dir / "ratings.csv", "userId,movieId,rating,timestamp\n\n");
  e = error_of([&] { data::read_movielens(dir.path(), sink, {}); });
  EXPECT_NE(e.find("ratings.csv: empty input: no data lines"), std::string::npos) << e;
}

TEST(MovieLensReader, BadCatalogueLines) {
  ScratchDir dir;
  write_text(dir / "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n");
  write_text(dir / "movies.csv", "movieId,title,genres\n1,\"Toy Story (1995),Animation\n");
  RecordingSink sink;
  std::string e = error_of([&] { data::read_movielens(dir.path(), sink, {}); });
  EXPECT_NE(e.find("movies.csv:2: unterminated quoted field 2"), std::string::npos) << e;

  ScratchDir k100;
  write_text(k100 / "u.data", "1\t2\t3\t4\n");
  write_text(k100 / "u.item", "242|Kolya (1996)|24-Jan-1997||http://x|0|0|2|0|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n");
  e = error_of([&] { data::read_movielens(k100.path(), sink, {}); });
  EXPECT_NE(e.find("u.item:1: genre flag 3 should be 0 or 1"), std::string::npos) << e;
  write_text(k100 / "u.item", "242|Kolya (1996)|24-Jan-1997\n");
  e = error_of([&] { data::read_movielens(k100.path(), sink, {}); });
  EXPECT_NE(e.find("u.item:1: expected 24 '|'-separated fields, found 3"), std::string::npos) << e;
}

TEST(MovieLensReader, UnknownLayoutAndMissingInput) {
  ScratchDir dir;
  write_text(dir / "links.csv", "movieId,imdbId,tmdbId\n");
  RecordingSink sink;
  std::string e = error_of([&] { data::read_movielens(dir.path(), sink, {}); });
  EXPECT_NE(e.find("unknown MovieLens layout"), std::string::npos) << e;
  e = error_of([&] { data::read_movielens(dir / "links.csv", sink, {}); });
  EXPECT_NE(e.find("links.csv: unknown MovieLens layout"), std::string::npos) << e;
  e = error_of([&] { data::read_movielens(dir / "nowhere", sink, {}); });
  EXPECT_NE(e.find("nowhere: no such file or directory"), std::string::npos) << e;
}

TEST(MovieLensReader, SkipBadLinesCountsThem) {
  ScratchDir dir;
  write_text(dir / "ratings.csv",
             "userId,movieId,rating,timestamp\n"
             "1,1,4.0,964982703\n"
             "1,2\n"
             "1,3,four,964982703\n"
             "\n"
             "2,3,1.0,964982704\n");
  RecordingSink sink;
  ReadOptions skip;
  skip.skip_bad_lines = true;
  data::read_movielens(dir.path(), sink, skip);
  ASSERT_EQ(sink.events.size(), 2u);
  EXPECT_EQ(sink.events[1].user, "2");
  EXPECT_EQ(sink.report().lines_read, 4u);  // the blank line is not counted
  EXPECT_EQ(sink.report().skipped_lines, 2u);
}

TEST(MovieLensReader, TruncatedGzipIsAnError) {
  ScratchDir dir;
  std::string body = "userId,movieId,rating,timestamp\n";
  for (int i = 0; i < 20000; ++i) body += std::to_string(i) + "," + std::to_string(i * 7 % 1000) + ",3.5,96498" + std::to_string(i) + "\n";
  write_gzip(dir / "full.gz", body);
  std::string gz = read_file(dir / "full.gz");
  write_text(dir / "ratings.csv", gz.substr(0, gz.size() / 2));
  RecordingSink sink;
  std::string e = error_of([&] { data::read_movielens(dir.path(), sink, {}); });
  EXPECT_NE(e.find("ratings.csv"), std::string::npos) << e;
  EXPECT_NE(e.find("gzip"), std::string::npos) << e;
}
