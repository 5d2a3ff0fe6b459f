// The run's dataset as the server sees it: posted events (an item by its source
// id or exact title, a rating, a timestamp) become the encoder's field ids
// exactly as data preparation made them, and stored events become the text
// prompt's lines.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/dataset.h"
#include "encoder/events.h"

namespace userllm::serve {

class Catalogue {
 public:
  // ev: the encoder's field layout (the dataset's fields plus "gap" when the encoder uses it).
  Catalogue(const data::Dataset& ds, const std::vector<std::string>& encoder_fields);

  // The item-field id of a source item id ("1") or, failing that, of an exact title
  // ("Toy Story (1995)"); nullopt when neither is known (an ambiguous title counts as unknown).
  std::optional<uint32_t> find_item(const std::string& key_or_title) const;
  const std::string& item_key(uint32_t item) const { return keys_.at(item); }

  // One encoder row (one id per encoder field) for an event of `item`; `prev_timestamp` is the
  // user's previous event's time (nullopt for a first event), for the time-gap field.
  // Throws userllm::Error when the rating is not a finite multiple of 0.5 in [0, 10].
  std::vector<uint32_t> tokens(uint32_t item, std::optional<double> rating, int64_t timestamp,
                               std::optional<int64_t> prev_timestamp) const;
  // The text prompt's line of an event given as an encoder row.
  std::string text_line(const std::vector<uint32_t>& tokens) const;

  const std::vector<std::string>& fields() const { return fields_; }
  // A fingerprint of everything tokens() depends on: field layout, vocabularies, item genres.
  const std::string& fingerprint() const { return fingerprint_; }
  const data::Dataset& dataset() const { return ds_; }

 private:
  const data::Dataset& ds_;
  std::vector<std::string> fields_;
  int item_ = -1, rating_ = -1, genre_ = -1, gap_ = -1;  // encoder field index, -1 when absent
  std::vector<std::string> keys_;                        // item id -> source key
  std::unordered_map<std::string, uint32_t> by_key_, by_title_;
  std::vector<uint32_t> genre_of_item_;                  // the genre token preparation gave the item's events
  std::string fingerprint_;
};

}  // namespace userllm::serve
