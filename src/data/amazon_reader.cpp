// Amazon Review 2014 / 2018 (reviewerID, asin, overall, unixReviewTime) and
// 2023 (user_id, parent_asin, rating, timestamp in ms), told apart per line.
// A review without reviewText is still an event, with empty text: the rating
// and time are real (5 such rows in All_Beauty_5).
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "data/fields.h"
#include "data/json_fields.h"
#include "data/line_loop.h"
#include "data/readers.h"
#include "data/seen_keys.h"

namespace userllm::data {

uint64_t read_amazon_meta(const TextInput& meta, EventSink& sink, const ReadOptions& options) {
  LineReader in(meta);
  JsonLineParser json;
  SeenKeys seen;
  std::string description;
  uint64_t records = for_each_line(in, sink, options, [&](std::string_view line) {
    auto o = json.parse(line);
    ItemRecord r;
    bool v2023 = has_field(o, "parent_asin");
    r.key = need_string(o, v2023 ? "parent_asin" : "asin");
    r.title = opt_string(o, "title");
    if (v2023) {
      opt_string_list(o, "categories", r.genres);
      std::string_view main = opt_string(o, "main_category");
      if (r.genres.empty() && !main.empty()) r.genres.emplace_back(main);
      r.brand = opt_string(o, "store");
    } else {
      // 2014: "categories" is a list of lists; 2018: "category" is a list.
      opt_string_list(o, has_field(o, "categories") ? "categories" : "category", r.genres);
      r.brand = opt_string(o, "brand");
    }
    description = opt_text(o, "description");
    r.description = description;
    if (seen.first(r.key)) sink.add_item(r);
  });
  if (records == 0) fail(meta.path + ": empty input: no metadata records");
  if (seen.repeats())
    spdlog::info("{}: {} records repeat an earlier item id; the first of each was kept", meta.path, seen.repeats());
  return records;
}

void read_amazon(const TextInput& reviews, const std::optional<TextInput>& meta, EventSink& sink,
                 const ReadOptions& options) {
  if (meta) read_amazon_meta(*meta, sink, options);
  LineReader in(reviews);
  JsonLineParser json;
  uint64_t n = for_each_line(in, sink, options, [&](std::string_view line) {
    auto o = json.parse(line);
    RawEvent e;
    if (has_field(o, "reviewerID")) {
      e.user = need_string(o, "reviewerID");
      e.item = need_string(o, "asin");
      e.rating = check_rating(need_number(o, "overall"), 0, 5);
      e.timestamp = check_timestamp(need_integer(o, "unixReviewTime"), "unixReviewTime");
      e.text = opt_string(o, "reviewText");
      e.summary = opt_string(o, "summary");
    } else if (has_field(o, "user_id")) {
      e.user = need_string(o, "user_id");
      e.item = need_string(o, "parent_asin");
      e.rating = check_rating(need_number(o, "rating"), 0, 5);
      e.timestamp = check_timestamp(need_integer(o, "timestamp") / 1000, "timestamp (ms) / 1000");
      e.text = opt_string(o, "text");
      e.summary = opt_string(o, "title");
    } else {
      bad_line("missing field \"reviewerID\" (2014/2018 format) or \"user_id\" (2023 format)");
    }
    sink.add_event(e);
  });
  if (n == 0) fail(reviews.path + ": empty input: no reviews");
}

}  // namespace userllm::data
