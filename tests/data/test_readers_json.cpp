// Amazon Review (2014, 2018, 2023) and Google Local 2021 readers on small
// fixtures in each real format, and their errors.
#include <gtest/gtest.h>

#include "data/readers.h"
#include "data/recording_sink.h"
#include "test_util.h"

using namespace userllm;
using namespace userllm::test;
using data::ReadOptions;

TEST(AmazonReader, Reviews2018GzipWithMissingText) {
  ScratchDir dir;
  write_gzip(dir / "Beauty_5.json.gz",
             R"({"overall": 5.0, "verified": true, "reviewTime": "09 1, 2016", "reviewerID": "A3CIUOJXQ5VDQ2", "asin": "B0000530HU", "style": {"Size:": " 7.0 oz"}, "reviewerName": "Shelly F", "reviewText": "As advertised. \"Reasonably\" priced", "summary": "Five Stars", "unixReviewTime": 1472688000})"
             "\n"
             R"({"overall": 1.0, "reviewerID": "A2", "asin": "B1", "summary": "No text", "unixReviewTime": 1384387200})"
             "\n");
  RecordingSink sink;
  data::read_amazon(dir / "Beauty_5.json.gz", std::nullopt, sink, {});
  ASSERT_EQ(sink.events.size(), 2u);
  const Event& e = sink.events[0];
  EXPECT_EQ(e.user, "A3CIUOJXQ5VDQ2");
  EXPECT_EQ(e.item, "B0000530HU");
  EXPECT_EQ(e.rating, 5.0f);
  EXPECT_EQ(e.timestamp, 1472688000);
  EXPECT_EQ(e.text, "As advertised. \"Reasonably\" priced");
  EXPECT_EQ(e.summary, "Five Stars");
  // A review without reviewText is still an event, with empty text.
  EXPECT_EQ(sink.events[1].text, "");
  EXPECT_EQ(sink.events[1].summary, "No text");
  EXPECT_EQ(sink.report().lines_read, 2u);
}

TEST(AmazonReader, Reviews2014AndMeta2014PythonLiteral) {
  ScratchDir dir;
  write_text(dir / "reviews_Toys.json",
             R"({"reviewerID": "A1", "asin": "0000031852", "reviewerName": "x", "helpful": [0, 0], "reviewText": "Cute", "overall": 4.0, "summary": "ok", "unixReviewTime": 1390953600, "reviewTime": "01 29, 2014"})"
             "\n");
  // str(dict) output: single quotes, double quotes around strings holding ', u'' strings, \x escapes, None.
  write_text(dir / "meta_Toys.json",
             "{'asin': '0000031852', 'title': \"Girls' Ballet Tutu \\xc3\\xa9\", 'price': 3.17, 'salesRank': "
             "{'Toys & Games': 211836}, 'brand': u'Cr\\xe8me', 'categories': [['Sports & Outdoors', 'Other Sports', "
             "'Dance'], ['Sports & Outdoors', 'Girls']], 'description': 'A \\'tutu\\'\\nfor girls', 'gift': True, "
             "'note': None, 'weight': 1e3}\n");
  RecordingSink sink;
  data::read_amazon(dir / "reviews_Toys.json", dir / "meta_Toys.json", sink, {});
  ASSERT_EQ(sink.events.size(), 1u);
  EXPECT_EQ(sink.events[0].rating, 4.0f);
  EXPECT_EQ(sink.events[0].text, "Cute");
  ASSERT_EQ(sink.items.size(), 1u);
  const Item& it = sink.items[0];
  EXPECT_EQ(it.key, "0000031852");
  EXPECT_EQ(it.title, "Girls' Ballet Tutu \xC3\xA9");  // UTF-8 bytes of a Python 2 byte string
  EXPECT_EQ(it.brand, "Cr\xC3\xA8me");                 // code point of a u'' string
  EXPECT_EQ(it.genres, (std::vector<std::string>{"Sports & Outdoors", "Other Sports", "Dance", "Girls"}));
  EXPECT_EQ(it.description, "A 'tutu'\nfor girls");
  EXPECT_EQ(sink.report().lines_read, 2u);
}

TEST(AmazonReader, Meta2018AndRepeatedItems) {
  ScratchDir dir;
  write_gzip(dir / "meta_All_Beauty.json.gz",
             R"({"category": ["All Beauty", "Skin Care"], "description": ["Loved by many.", "", "Made in USA."], "title": "Face Cream", "brand": "Acme", "asin": "B1", "also_buy": []})"
             "\n"
             R"({"category": [], "description": [], "title": "Face Cream, again", "brand": "Acme", "asin": "B1"})"
             "\n"
             R"({"title": "Soap", "asin": "B2"})"
             "\n");
  RecordingSink sink;
  uint64_t n = data::read_amazon_meta(dir / "meta_All_Beauty.json.gz", sink, {});
  EXPECT_EQ(n, 3u);
  ASSERT_EQ(sink.items.size(), 2u);  // the repeated asin keeps its first record
  EXPECT_EQ(sink.items[0].title, "Face Cream");
  EXPECT_EQ(sink.items[0].genres, (std::vector<std::string>{"All Beauty", "Skin Care"}));
  EXPECT_EQ(sink.items[0].description, "Loved by many.\nMade in USA.");
  EXPECT_EQ(sink.items[0].brand, "Acme");
  EXPECT_TRUE(sink.items[1].genres.empty());
}

TEST(AmazonReader, Reviews2023AndMeta2023) {
  ScratchDir dir;
  write_text(dir / "All_Beauty.jsonl",
             "\xEF\xBB\xBF"  // a byte-order mark is ignored
             R"({"rating": 5.0, "title": "Such a lovely scent", "text": "This spray is really nice.", "images": [], "asin": "B00YQ6X8EO", "parent_asin": "B00YQ6X8EO", "user_id": "AGKHLEW2SOWHNMFQIJGBECAF7INQ", "timestamp": 1588687728923, "helpful_vote": 0, "verified_purchase": true})"
             "\n");
  write_text(dir / "meta_All_Beauty.jsonl",
             R"({"main_category": "All Beauty", "title": "Howard LC0008 Leather Conditioner", "average_rating": 4.8, "features": [], "description": ["Conditions leather."], "price": null, "store": "Howard Products", "categories": [], "details": {}, "parent_asin": "B01CUPMQZE"})"
             "\n"
             R"({"main_category": "All Beauty", "title": "Spray", "store": null, "categories": ["Beauty", "Fragrance"], "description": [], "parent_asin": "B00YQ6X8EO"})"
             "\n");
  RecordingSink sink;
  data::read_amazon(dir / "All_Beauty.jsonl", dir / "meta_All_Beauty.jsonl", sink, {});
  ASSERT_EQ(sink.events.size(), 1u);
  const Event& e = sink.events[0];
  EXPECT_EQ(e.user, "AGKHLEW2SOWHNMFQIJGBECAF7INQ");
  EXPECT_EQ(e.item, "B00YQ6X8EO");
  EXPECT_EQ(e.timestamp, 1588687728);  // milliseconds to seconds
  EXPECT_EQ(e.summary, "Such a lovely scent");
  EXPECT_EQ(e.text, "This spray is really nice.");
  ASSERT_EQ(sink.items.size(), 2u);
  EXPECT_EQ(sink.item("B01CUPMQZE")->brand, "Howard Products");
  EXPECT_EQ(sink.item("B01CUPMQZE")->genres, std::vector<std::string>{"All Beauty"});  // main_category stands in
  EXPECT_EQ(sink.item("B01CUPMQZE")->description, "Conditions leather.");
  EXPECT_EQ(sink.item("B00YQ6X8EO")->genres, (std::vector<std::string>{"Beauty", "Fragrance"}));
}

TEST(AmazonReader, BadLinesNameFileAndLine) {
  ScratchDir dir;
  auto error = [&](const std::string& line) {
    write_text(dir / "r.json", std::string(R"({"reviewerID": "A", "asin": "B", "overall": 4.0, "unixReviewTime": 1})") +
                                   "\n" + line + "\n");
    RecordingSink sink;
    return error_of([&] { data::read_amazon(dir / "r.json", std::nullopt, sink, {}); });
  };
  std::string e = error(R"({"reviewerID": "A", "asin": "B", "overall": "5", "unixReviewTime": 1})");
  EXPECT_NE(e.find("r.json:2: field \"overall\" should be a number, found string"), std::string::npos) << e;
  e = error(R"({"reviewerID": "A", "overall": 5, "unixReviewTime": 1})");
  EXPECT_NE(e.find("r.json:2: missing field \"asin\""), std::string::npos) << e;
  e = error(R"({"reviewerID": "A", "asin": "B", "overall": 5, "unixReviewTime": 1.5})");
  EXPECT_NE(e.find("r.json:2: field \"unixReviewTime\" should be an integer, found 1.5"), std::string::npos) << e;
  e = error(R"({"reviewerID": "A", "asin": "B", "overall": 5, "unixReviewTime": 1, "reviewText": 3})");
  EXPECT_NE(e.find("r.json:2: field \"reviewText\" should be a string or null, found number"), std::string::npos) << e;
  e = error(R"({"reviewerID": "A", "asin": "B", "overall": 5, "unixReviewTime": 1)");
  EXPECT_NE(e.find("r.json:2: invalid JSON"), std::string::npos) << e;
  e = error(R"(["A", "B"])");
  EXPECT_NE(e.find("r.json:2: expected a JSON object, found array"), std::string::npos) << e;
  e = error(R"({"asin": "B"})");
  EXPECT_NE(e.find("r.json:2: missing field \"reviewerID\" (2014/2018 format) or \"user_id\" (2023 format)"),
            std::string::npos)
      << e;
  e = error("{'reviewerID': 'A', 'asin': 'B', 'overall': 5.0, 'unixReviewTime': 1, 'x': nan}");
  EXPECT_NE(e.find("r.json:2: Python literal: unexpected name \"nan\""), std::string::npos) << e;
  e = error("{'reviewerID': 'A, 'asin': 'B'}");
  EXPECT_NE(e.find("r.json:2: "), std::string::npos) << e;

  write_text(dir / "empty.json", "\n");
  RecordingSink sink;
  e = error_of([&] { data::read_amazon(dir / "empty.json", std::nullopt, sink, {}); });
  EXPECT_NE(e.find("empty.json: empty input: no reviews"), std::string::npos) << e;
  e = error_of([&] { data::read_amazon_meta(dir / "empty.json", sink, {}); });
  EXPECT_NE(e.find("empty.json: empty input: no metadata records"), std::string::npos) << e;
  e = error_of([&] { data::read_amazon(dir / "absent.json", std::nullopt, sink, {}); });
  EXPECT_NE(e.find("absent.json: cannot open"), std::string::npos) << e;
}

TEST(AmazonReader, SkipBadLinesAndTruncatedGzip) {
  ScratchDir dir;
  std::string good = R"({"reviewerID": "A", "asin": "B", "overall": 4.0, "unixReviewTime": 1})";
  write_gzip(dir / "r.json.gz", good + "\nnot json\n" + R"({"reviewerID": "A"})" + "\n" + good + "\n");
  RecordingSink sink;
  ReadOptions skip;
  skip.skip_bad_lines = true;
  data::read_amazon(dir / "r.json.gz", std::nullopt, sink, skip);
  EXPECT_EQ(sink.events.size(), 2u);
  EXPECT_EQ(sink.report().lines_read, 4u);
  EXPECT_EQ(sink.report().skipped_lines, 2u);

  std::string many;
  for (int i = 0; i < 5000; ++i)
    many += R"({"reviewerID": "A)" + std::to_string(i) + R"(", "asin": "B", "overall": 4.0, "unixReviewTime": )" +
            std::to_string(1000 + i * 13) + "}\n";
  write_gzip(dir / "full.gz", many);
  std::string gz = read_file(dir / "full.gz");
  write_text(dir / "cut.json.gz", gz.substr(0, gz.size() - 100));
  RecordingSink cut;
  std::string e = error_of([&] { data::read_amazon(dir / "cut.json.gz", std::nullopt, cut, skip); });
  EXPECT_NE(e.find("cut.json.gz: "), std::string::npos) << e;
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;  // not skippable: it is not one bad line
}

TEST(GoogleLocalReader, ReviewsAndMeta) {
  ScratchDir dir;
  write_gzip(dir / "review-Vermont.json.gz",
             R"({"user_id": "101463350189962023774", "name": "Jordan Adams", "time": 1524779283940, "rating": 5, "text": "Cool place, great people", "pics": null, "resp": null, "gmap_id": "0x89e02445cb9db457:0x37f42bff4edf7a43"})"
             "\n"
             R"({"user_id": "113811863923385427355", "name": "A B", "time": 1566338064457, "rating": 4, "text": null, "pics": null, "resp": {"time": 1566342287063, "text": "Thanks"}, "gmap_id": "0x4cb549e8877cf0d7:0xe8f003e6d73392ae"})"
             "\n");
  std::string royal =
      R"({"name": "Royal Group", "address": "150 Woodstock Ave, Rutland, VT 05701", "gmap_id": "0x89e02445cb9db457:0x37f42bff4edf7a43", "description": null, "latitude": 43.6, "longitude": -72.9, "category": ["Security system supplier", "Locksmith"], "avg_rating": 4.9, "num_of_reviews": 148, "price": null, "hours": [["Thursday", "8AM\u20135PM"]], "MISC": {"Accessibility": ["Wheelchair accessible entrance"]}, "state": "Closed", "relative_results": ["0x1:0x2"], "url": "https://www.google.com/maps/place//data"})";
  write_gzip(dir / "meta-Vermont.json.gz",
             royal + "\n" +
                 R"({"name": "Foxglove Farm", "gmap_id": "0x4cb549e8877cf0d7:0xe8f003e6d73392ae", "description": "A farm.", "category": null, "avg_rating": 5})" +
                 "\n" + royal + "\n");
  RecordingSink sink;
  data::read_google_local(dir / "review-Vermont.json.gz", dir / "meta-Vermont.json.gz", sink, {});
  ASSERT_EQ(sink.events.size(), 2u);
  EXPECT_EQ(sink.events[0].user, "101463350189962023774");
  EXPECT_EQ(sink.events[0].item, "0x89e02445cb9db457:0x37f42bff4edf7a43");
  EXPECT_EQ(sink.events[0].timestamp, 1524779283);
  EXPECT_EQ(sink.events[0].rating, 5.0f);
  EXPECT_EQ(sink.events[0].text, "Cool place, great people");
  EXPECT_EQ(sink.events[0].summary, "");
  EXPECT_EQ(sink.events[1].text, "");  // rating-only review
  ASSERT_EQ(sink.items.size(), 2u);    // the repeated gmap_id keeps its first record
  EXPECT_EQ(sink.items[0].title, "Royal Group");
  EXPECT_EQ(sink.items[0].genres, (std::vector<std::string>{"Security system supplier", "Locksmith"}));
  EXPECT_EQ(sink.items[1].title, "Foxglove Farm");
  EXPECT_TRUE(sink.items[1].genres.empty());
  EXPECT_EQ(sink.items[1].description, "A farm.");
  EXPECT_EQ(sink.report().lines_read, 5u);
}

TEST(GoogleLocalReader, BadLines) {
  ScratchDir dir;
  write_text(dir / "review.json",
             R"({"user_id": "1", "time": 1524779283940, "rating": 5, "gmap_id": "g"})"
             "\n"
             R"({"user_id": "1", "time": 1524779283940, "rating": "five", "gmap_id": "g"})"
             "\n"
             R"({"user_id": 1, "time": 1524779283940, "rating": 5, "gmap_id": "g"})"
             "\n"
             R"({"user_id": "1", "time": 1524779283940, "rating": 6, "gmap_id": "g"})"
             "\n"
             R"({"user_id": "1", "time": -5000, "rating": 5, "gmap_id": "g"})"
             "\n");
  RecordingSink sink;
  std::string e = error_of([&] { data::read_google_local(dir / "review.json", std::nullopt, sink, {}); });
  EXPECT_NE(e.find("review.json:2: field \"rating\" should be a number, found string"), std::string::npos) << e;
  RecordingSink skipped;
  ReadOptions skip;
  skip.skip_bad_lines = true;
  data::read_google_local(dir / "review.json", std::nullopt, skipped, skip);
  EXPECT_EQ(skipped.events.size(), 1u);
  EXPECT_EQ(skipped.report().skipped_lines, 4u);

  write_text(dir / "meta.json", R"({"name": "x", "gmap_id": "g", "category": "Cafe"})" "\n");
  e = error_of([&] { data::read_google_local_meta(dir / "meta.json", sink, {}); });
  EXPECT_NE(e.find("meta.json:1: field \"category\" should be a list, found string"), std::string::npos) << e;
  write_text(dir / "meta.json", R"({"name": "x", "category": []})" "\n");
  e = error_of([&] { data::read_google_local_meta(dir / "meta.json", sink, {}); });
  EXPECT_NE(e.find("meta.json:1: missing field \"gmap_id\""), std::string::npos) << e;
  write_text(dir / "meta.json", "");
  e = error_of([&] { data::read_google_local_meta(dir / "meta.json", sink, {}); });
  EXPECT_NE(e.find("meta.json: empty input: no place records"), std::string::npos) << e;
}
