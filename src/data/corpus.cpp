#include "data/corpus.h"

#include <cctype>

#include "common/atomic_file.h"
#include "common/progress.h"

namespace userllm::data {
namespace {

// Documents are lines: newlines and tabs inside source text become spaces.
std::string one_line(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "a, b and c"
std::string join_list(const std::vector<std::string>& xs) {
  std::string out;
  for (size_t i = 0; i < xs.size(); ++i) out += (i == 0 ? "" : i + 1 == xs.size() ? " and " : ", ") + xs[i];
  return out;
}

// "a" or "an" before a word.
std::string article(std::string_view word) {
  return !word.empty() && std::string_view("aeiouAEIOU").find(word[0]) != std::string_view::npos ? "an" : "a";
}

std::string titled(const Dataset& ds, uint32_t item) {
  std::string t(ds.item_title(item));
  if (ds.item_year(item)) t += " (" + std::to_string(ds.item_year(item)) + ")";
  return t;
}

}  // namespace

std::string item_document(const Dataset& ds, uint32_t item) {
  bool movies = ds.name() == "movielens" || ds.name() == "synthetic";
  int gf = ds.field_index(ds.genre_field());
  std::vector<std::string> genres;
  if (gf >= 0)
    for (uint32_t g : ds.item_genres(item)) genres.push_back(movies ? lower(ds.token(gf, g)) : std::string(ds.token(gf, g)));
  std::string doc = titled(ds, item);
  if (movies)
    doc += genres.empty() ? " is a film." : " is " + article(genres[0]) + " " + join_list(genres) + " film.";
  else if (!genres.empty())
    doc += " is listed under " + join_list(genres) + ".";
  else
    doc += ".";
  if (!ds.item_brand(item).empty()) doc += " It is made by " + std::string(ds.item_brand(item)) + ".";
  if (!ds.item_description(item).empty()) doc += " " + std::string(ds.item_description(item));
  return one_line(doc);
}

std::string review_document(const Dataset& ds, uint64_t event) {
  std::string_view text = ds.event_text(event), summary = ds.event_summary(event);
  if (text.empty() && summary.empty()) return {};
  uint32_t item = ds.column(0)[event];
  std::string doc = "A review of " + titled(ds, item);
  int rf = ds.field_index("rating");
  if (rf >= 0 && ds.column(rf)[event] >= 2) doc += ", rated " + std::string(ds.token(rf, ds.column(rf)[event])) + " of 5";
  doc += ":";
  if (!summary.empty()) doc += " " + std::string(summary) + ".";
  if (!text.empty()) doc += " " + std::string(text);
  return one_line(doc);
}

CorpusReport write_corpus(const Dataset& ds, const std::filesystem::path& file) {
  AtomicFile out(file);
  CorpusReport r;
  auto emit = [&](const std::string& doc) {
    if (doc.empty()) return;
    out.write(doc);
    out.write("\n");
    ++r.documents;
  };
  for (uint32_t item = 2; item < ds.num_items(); ++item) emit(item_document(ds, item));
  Progress progress("corpus", ds.num_events(), "events");
  for (uint64_t e = 0; e < ds.num_events(); ++e) {
    emit(review_document(ds, e));
    if (e % 65536 == 0) progress.set(e);
  }
  progress.set(ds.num_events());
  progress.finish();
  r.bytes = out.bytes_written();
  out.commit();
  return r;
}

}  // namespace userllm::data
