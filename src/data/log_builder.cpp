#include "data/log_builder.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/progress.h"
#include "data/columns.h"
#include "data/dataset.h"
#include "data/format.h"
#include "data/process.h"
#include "data/vocab.h"

namespace userllm::data {
namespace {

struct CatalogueEntry {
  bool known = false;
  std::string title, description, brand;
  int year = 0;
  std::vector<uint32_t> genres;  // interned genre ids, listing order, no repeats
};

// Builds a string table section body.
struct StringsBuilder {
  std::vector<uint64_t> offsets{0};
  std::string bytes;
  void add(std::string_view s) {
    bytes.append(s);
    offsets.push_back(bytes.size());
  }
};

// The single genre token an event carries: among the item's genres that made
// the vocabulary, the rarest in the dataset (most specific), ties by listing order.
uint32_t event_genre(const CatalogueEntry& c, const Vocab& vocab, const std::vector<uint64_t>& counts) {
  uint32_t best = kOovId;
  uint64_t best_count = std::numeric_limits<uint64_t>::max();
  for (uint32_t g : c.genres) {
    if (vocab.remap[g] < 2) continue;
    if (counts[g] < best_count) best = vocab.remap[g], best_count = counts[g];
  }
  return best;
}

}  // namespace

struct LogBuilder::Impl {
  std::string name, genre_field;
  PrepareReport report;
  Interner users, items, genres;
  RawColumns log;
  std::vector<CatalogueEntry> catalogue;  // by interned item id
  bool any_rating = false;

  CatalogueEntry& entry(uint32_t item) {
    if (item >= catalogue.size()) catalogue.resize(item + 1);
    return catalogue[item];
  }
  void write(const PrepareOptions& options, const std::filesystem::path& out_dir,
             const std::function<void(const std::filesystem::path&)>& before_commit);
};

LogBuilder::LogBuilder(std::string name, std::string genre_field) : impl_(new Impl) {
  impl_->name = std::move(name);
  impl_->genre_field = std::move(genre_field);
}

LogBuilder::~LogBuilder() { delete impl_; }

PrepareReport& LogBuilder::report() { return impl_->report; }

void LogBuilder::add_event(const RawEvent& e) {
  Impl& m = *impl_;
  if (m.log.size() >= std::numeric_limits<uint32_t>::max()) fail("more than 2^32 events are not supported");
  uint64_t index = m.log.size();
  m.log.user.push_back(m.users.intern(e.user));
  m.log.item.push_back(m.items.intern(e.item));
  m.log.ts.push_back(e.timestamp);
  m.log.rating.push_back(e.rating ? rating_code(*e.rating) : 0);
  m.any_rating |= e.rating.has_value();
  m.log.text.add(index, e.text);
  m.log.summary.add(index, e.summary);
}

void LogBuilder::add_item(const ItemRecord& item) {
  // A repeated record only fills in what earlier ones left empty.
  CatalogueEntry& c = impl_->entry(impl_->items.intern(item.key));
  c.known = true;
  if (c.title.empty()) c.title = std::string(item.title);
  if (c.description.empty()) c.description = std::string(item.description);
  if (c.brand.empty()) c.brand = std::string(item.brand);
  if (c.year == 0) c.year = item.year;
  if (c.genres.empty())
    for (const auto& g : item.genres) {
      if (g.empty()) continue;
      uint32_t id = impl_->genres.intern(g);
      if (std::find(c.genres.begin(), c.genres.end(), id) == c.genres.end()) c.genres.push_back(id);
    }
}

void LogBuilder::finish(const PrepareOptions& options, const std::filesystem::path& out_dir) {
  impl_->write(options, out_dir, nullptr);
}

void LogBuilder::finish(const PrepareOptions& options, const std::filesystem::path& out_dir,
                        const std::function<void(const std::filesystem::path&)>& before_commit) {
  impl_->write(options, out_dir, before_commit);
}

void LogBuilder::Impl::write(const PrepareOptions& options, const std::filesystem::path& out_dir,
                             const std::function<void(const std::filesystem::path&)>& before_commit) {
  if (log.size() == 0) fail("no events were read: nothing to prepare (check --input and --format)");
  catalogue.resize(items.size());

  // 1. Order, deduplicate, k-core.
  std::vector<uint64_t> raw_offsets;
  std::vector<uint32_t> order = order_events(log, users.size(), raw_offsets);
  std::vector<uint8_t> keep(log.size(), 1);
  if (options.dedupe) report.duplicates_removed = drop_duplicates(log, order, raw_offsets, keep);
  report.filtered_events = k_core(log, users.size(), items.size(), options.min_user_events, options.min_item_events, keep);
  uint64_t num_events = 0;
  for (uint8_t k : keep) num_events += k;
  if (num_events == 0)
    fail("no events are left after filtering (" + std::to_string(log.size()) +
         " read): lower --min-user-events / --min-item-events");

  // 2. Vocabularies from the kept events.
  std::vector<uint64_t> item_count(items.size()), rating_count(256);
  for (uint64_t e = 0; e < log.size(); ++e)
    if (keep[e]) ++item_count[log.item[e]], ++rating_count[log.rating[e]];
  Vocab item_vocab = build_vocab(items, item_count, options.min_token_count);
  std::vector<uint64_t> genre_count(genres.size());
  for (uint32_t i = 0; i < items.size(); ++i)
    for (uint32_t g : catalogue[i].genres) genre_count[g] += item_count[i];
  Vocab genre_vocab = build_vocab(genres, genre_count, options.min_token_count);
  Interner ratings;
  std::vector<uint64_t> rating_token_count;
  std::vector<uint32_t> rating_interned(256, 0);
  for (int code = 1; code < 256; ++code)
    if (rating_count[code]) {
      rating_interned[code] = ratings.intern(rating_token(uint8_t(code)));
      rating_token_count.push_back(rating_count[code]);
    }
  Vocab rating_vocab = build_vocab(ratings, rating_token_count, options.min_token_count);
  bool has_genre = genre_vocab.size() > 2, has_rating = any_rating;
  std::vector<uint32_t> item_genre(items.size(), kOovId);
  for (uint32_t i = 0; i < items.size(); ++i)
    if (item_count[i]) item_genre[i] = event_genre(catalogue[i], genre_vocab, genre_count);

  // 3. Columns in final order; users without kept events disappear.
  Progress progress("writing " + out_dir.filename().string(), num_events, "events");
  std::vector<int64_t> ts;
  std::vector<uint32_t> col_item, col_rating, col_genre;
  ts.reserve(num_events);
  col_item.reserve(num_events);
  if (has_rating) col_rating.reserve(num_events);
  if (has_genre) col_genre.reserve(num_events);
  StringsBuilder user_keys, text, summary;
  std::vector<uint64_t> user_offsets{0};
  uint64_t split_counts[3] = {0, 0, 0};
  for (uint32_t u = 0; u < users.size(); ++u) {
    uint64_t before = ts.size();
    for (uint64_t i = raw_offsets[u]; i < raw_offsets[u + 1]; ++i) {
      uint32_t e = order[i];
      if (!keep[e]) continue;
      ts.push_back(log.ts[e]);
      col_item.push_back(item_vocab.remap[log.item[e]]);
      if (has_rating) col_rating.push_back(log.rating[e] ? rating_vocab.remap[rating_interned[log.rating[e]]] : kOovId);
      if (has_genre) col_genre.push_back(item_genre[log.item[e]]);
      if (!log.text.empty()) text.add(log.text.at(e));
      if (!log.summary.empty()) summary.add(log.summary.at(e));
    }
    uint64_t n = ts.size() - before;
    if (n == 0) continue;
    user_keys.add(users.str(u));
    user_offsets.push_back(ts.size());
    split_counts[0] += n >= 3 ? n - 2 : n;
    split_counts[1] += n >= 3;
    split_counts[2] += n >= 3;
    progress.set(ts.size());
  }
  std::vector<uint32_t>().swap(order);
  std::vector<uint8_t>().swap(keep);

  // 4. Vocabulary strings and the catalogue, by item-field id.
  auto vocab_strings = [](const Vocab& v, const Interner& s) {
    StringsBuilder b;
    b.add("<pad>");
    b.add("<oov>");
    for (uint32_t id : v.source) b.add(s.str(id));
    return b;
  };
  StringsBuilder item_tokens = vocab_strings(item_vocab, items), genre_tokens = vocab_strings(genre_vocab, genres),
                 rating_tokens = vocab_strings(rating_vocab, ratings);
  StringsBuilder titles, descriptions, brands;
  std::vector<int32_t> years{0, 0};
  std::vector<uint64_t> genre_offsets{0, 0, 0};
  std::vector<uint32_t> genre_ids;
  titles.add("<pad>");
  titles.add("<oov>");
  for (int k = 0; k < 2; ++k) descriptions.add(""), brands.add("");
  for (uint32_t raw : item_vocab.source) {
    const CatalogueEntry& c = catalogue[raw];
    titles.add(c.title.empty() ? items.str(raw) : std::string_view(c.title));
    descriptions.add(c.description);
    brands.add(c.brand);
    years.push_back(c.year);
    for (uint32_t g : c.genres)
      if (genre_vocab.remap[g] >= 2) genre_ids.push_back(genre_vocab.remap[g]);
    genre_offsets.push_back(genre_ids.size());
  }

  // 5. Metadata and the file.
  uint32_t num_users = uint32_t(user_offsets.size() - 1);
  nlohmann::json fields = nlohmann::json::array();
  fields.push_back({{"name", "item"}, {"vocab_size", item_vocab.size()}});
  if (has_rating) fields.push_back({{"name", "rating"}, {"vocab_size", rating_vocab.size()}});
  if (has_genre) fields.push_back({{"name", genre_field}, {"vocab_size", genre_vocab.size()}});
  nlohmann::json meta = {
      {"format", "userllm-events"},
      {"version", kFormatVersion},
      {"name", name},
      {"genre_field", genre_field},
      {"users", num_users},
      {"items", item_vocab.size() - 2},
      {"events", num_events},
      {"fields", fields},
      {"splits", {{"train", split_counts[0]}, {"validation", split_counts[1]}, {"test", split_counts[2]}}},
      {"has_text", !log.text.empty()},
      {"has_summary", !log.summary.empty()},
      {"report",
       {{"lines_read", report.lines_read},
        {"skipped_lines", report.skipped_lines},
        {"duplicates_removed", report.duplicates_removed},
        {"filtered_events", report.filtered_events}}},
      {"options",
       {{"min_user_events", options.min_user_events},
        {"min_item_events", options.min_item_events},
        {"min_token_count", options.min_token_count},
        {"dedupe", options.dedupe}}},
  };
  std::string meta_text = meta.dump();

  FormatWriter w;
  w.add("meta", {meta_text});
  w.add_array("timestamps", ts);
  w.add_array("user_offsets", user_offsets);
  w.add_strings("user_keys", user_keys.offsets, user_keys.bytes);
  w.add_array("col.item", col_item);
  w.add_strings("vocab.item", item_tokens.offsets, item_tokens.bytes);
  if (has_rating) {
    w.add_array("col.rating", col_rating);
    w.add_strings("vocab.rating", rating_tokens.offsets, rating_tokens.bytes);
  }
  if (has_genre) {
    w.add_array("col." + genre_field, col_genre);
    w.add_strings("vocab." + genre_field, genre_tokens.offsets, genre_tokens.bytes);
  }
  w.add_strings("item_title", titles.offsets, titles.bytes);
  w.add_array("item_year", years);
  w.add_array("item_genre_offsets", genre_offsets);
  w.add_array("item_genre_ids", genre_ids);
  w.add_strings("item_description", descriptions.offsets, descriptions.bytes);
  w.add_strings("item_brand", brands.offsets, brands.bytes);
  if (!log.text.empty()) w.add_strings("event_text", text.offsets, text.bytes);
  if (!log.summary.empty()) w.add_strings("event_summary", summary.offsets, summary.bytes);

  AtomicDir dir(out_dir);
  AtomicFile file(dir / "events.bin");
  w.write(file);
  file.commit();
  if (before_commit) before_commit(dir.path());
  dir.commit();
  progress.finish();
  spdlog::info("{}: {} users, {} items, {} events", out_dir.string(), num_users, item_vocab.size() - 2, num_events);
}

}  // namespace userllm::data
