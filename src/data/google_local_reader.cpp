// Google Local 2021: reviews (user_id, gmap_id, rating, time in ms, text) and
// place metadata (gmap_id, name, category, description). A place's title is its
// name and its categories its genres. Rating-only reviews (text null) are
// events with empty text.
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "data/fields.h"
#include "data/json_fields.h"
#include "data/line_loop.h"
#include "data/readers.h"
#include "data/seen_keys.h"

namespace userllm::data {

uint64_t read_google_local_meta(const TextInput& meta, EventSink& sink, const ReadOptions& options) {
  LineReader in(meta);
  JsonLineParser json;
  SeenKeys seen;
  uint64_t records = for_each_line(in, sink, options, [&](std::string_view line) {
    auto o = json.parse(line);
    ItemRecord r;
    r.key = need_string(o, "gmap_id");
    r.title = opt_string(o, "name");
    opt_string_list(o, "category", r.genres);
    r.description = opt_string(o, "description");
    if (seen.first(r.key)) sink.add_item(r);
  });
  if (records == 0) fail(meta.path + ": empty input: no place records");
  if (seen.repeats())
    spdlog::info("{}: {} records repeat an earlier gmap_id; the first of each was kept", meta.path, seen.repeats());
  return records;
}

void read_google_local(const TextInput& reviews, const std::optional<TextInput>& meta, EventSink& sink,
                       const ReadOptions& options) {
  if (meta) read_google_local_meta(*meta, sink, options);
  LineReader in(reviews);
  JsonLineParser json;
  uint64_t n = for_each_line(in, sink, options, [&](std::string_view line) {
    auto o = json.parse(line);
    RawEvent e;
    if (!has_field(o, "user_id") && has_field(o, "gmap_id") && has_field(o, "name"))
      bad_line("missing field \"user_id\": this is a place metadata record (gmap_id, name); pass the file as --meta "
               "and the reviews as --input");
    e.user = need_string(o, "user_id");
    e.item = need_string(o, "gmap_id");
    e.rating = check_rating(need_number(o, "rating"), 0, 5);
    e.timestamp = check_timestamp(need_integer(o, "time") / 1000, "time (ms) / 1000");
    e.text = opt_string(o, "text");
    sink.add_event(e);
  });
  if (n == 0) fail(reviews.path + ": empty input: no reviews");
}

}  // namespace userllm::data
