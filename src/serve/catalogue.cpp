#include "serve/catalogue.h"

#include <cmath>

#include "common/error.h"
#include "data/vocab.h"
#include "serve/fingerprint.h"
#include "tasks/text_history.h"

namespace userllm::serve {

Catalogue::Catalogue(const data::Dataset& ds, const std::vector<std::string>& encoder_fields)
    : ds_(ds), fields_(encoder_fields) {
  for (int f = 0; f < int(fields_.size()); ++f) {
    const std::string& n = fields_[size_t(f)];
    if (n == "item") item_ = f;
    else if (n == "rating") rating_ = f;
    else if (n == "gap") gap_ = f;
    else if (n == ds.genre_field()) genre_ = f;
    else if (ds.field_index(n) < 0) fail("serve: the encoder reads a field \"" + n + "\" the dataset does not have");
  }
  if (item_ != 0) fail("serve: the encoder's first field must be the item");
  const int itf = ds.field_index("item");
  const uint32_t items = ds.num_items();
  keys_.resize(items);
  for (uint32_t i = 0; i < items; ++i) {
    keys_[i] = std::string(ds.token(itf, i));
    if (i < 2) continue;  // PAD, OOV
    by_key_.emplace(keys_[i], i);
    auto [it, fresh] = by_title_.emplace(std::string(ds.item_title(i)), i);
    if (!fresh) it->second = data::kPadId;  // two items share this title: not an answer
  }
  // Preparation gives every event of an item the same genre token: read it off the events.
  genre_of_item_.assign(items, data::kOovId);
  if (genre_ >= 0) {
    const uint32_t* it = ds.column(itf);
    const uint32_t* g = ds.column(ds.field_index(fields_[size_t(genre_)]));
    for (uint64_t e = 0; e < ds.num_events(); ++e) genre_of_item_[it[e]] = g[e];
  }
  Fnv f;
  for (const auto& n : fields_) f.add(n);
  for (const auto& fi : ds.fields()) {
    f.add(fi.name);
    const int fx = ds.field_index(fi.name);
    for (uint32_t t = 0; t < fi.vocab_size; ++t) f.add(std::string(ds.token(fx, t)));
  }
  for (uint32_t g : genre_of_item_) f.add(uint64_t(g));
  fingerprint_ = f.hex();
}

std::optional<uint32_t> Catalogue::find_item(const std::string& key_or_title) const {
  if (auto it = by_key_.find(key_or_title); it != by_key_.end()) return it->second;
  if (auto it = by_title_.find(key_or_title); it != by_title_.end() && it->second != data::kPadId) return it->second;
  return std::nullopt;
}

std::vector<uint32_t> Catalogue::tokens(uint32_t item, std::optional<double> rating, int64_t timestamp,
                                        std::optional<int64_t> prev_timestamp) const {
  if (item >= keys_.size()) fail("item id " + std::to_string(item) + " is outside the catalogue");
  std::vector<uint32_t> row(fields_.size(), data::kPadId);
  row[size_t(item_)] = item;
  if (rating_ >= 0) {
    row[size_t(rating_)] = data::kOovId;  // no rating, as preparation stores it
    if (rating) {
      const double r = *rating;
      if (!std::isfinite(r) || r < 0 || r > 10 || std::fabs(r * 2 - std::round(r * 2)) > 1e-9)
        fail("rating must be a multiple of 0.5 in [0, 10]");
      const int rf = ds_.field_index("rating");
      row[size_t(rating_)] = ds_.lookup(rf, data::rating_token(data::rating_code(float(r)))).value_or(data::kOovId);
    }
  }
  if (genre_ >= 0) row[size_t(genre_)] = genre_of_item_[item];
  if (gap_ >= 0) row[size_t(gap_)] = prev_timestamp ? encoder::gap_bucket(timestamp - *prev_timestamp) : 2;
  return row;
}

std::string Catalogue::text_line(const std::vector<uint32_t>& tokens) const {
  return tasks::event_text_line(ds_, tokens.at(size_t(item_)), rating_ >= 0 ? tokens.at(size_t(rating_)) : data::kPadId);
}

}  // namespace userllm::serve
