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

namespace fs = std::filesystem;

uint64_t read_google_local_meta(const fs::path& meta, EventSink& sink, const ReadOptions& options) {
  LineReader in(meta.string());
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
  if (records == 0) fail(meta.string() + ": empty input: no place records");
  if (seen.repeats())
    spdlog::info("{}: {} records repeat an earlier gmap_id; the first of each was kept", meta.string(), seen.repeats());
  return records;
}

void read_google_local(const fs::path& reviews, const std::optional<fs::path>& meta, EventSink& sink,
                       const ReadOptions& options) {
  if (meta) read_google_local_meta(*meta, sink, options);
  LineReader in(reviews.string());
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
  if (n == 0) fail(reviews.string() + ": empty input: no reviews");
}

}  // namespace userllm::data
