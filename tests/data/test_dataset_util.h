// Small logs built in code for the dataset tests.
#pragma once
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/log_builder.h"

namespace userllm::test {

struct Row {
  std::string user;
  int64_t ts;
  std::string item;
  float rating = 4;
  std::string text = {};
};

inline data::Dataset build_dataset(const std::filesystem::path& dir, const std::vector<Row>& rows,
                                   const data::PrepareOptions& options = {},
                                   const std::vector<std::pair<std::string, std::vector<std::string>>>& genres = {}) {
  data::LogBuilder b("movielens", "genre");
  for (const auto& [key, gs] : genres) {
    data::ItemRecord r;
    std::string title = "Title " + key;  // r holds views: keep the string alive
    r.key = key;
    r.title = title;
    r.year = 2000;
    r.genres = gs;
    b.add_item(r);
  }
  for (const auto& row : rows) {
    data::RawEvent e;
    e.user = row.user;
    e.timestamp = row.ts;
    e.item = row.item;
    e.rating = row.rating;
    e.text = row.text;
    b.add_event(e);
  }
  b.finish(options, dir);
  return data::Dataset::open(dir);
}

// The item keys of user u's events, in stored order.
inline std::vector<std::string> items_of(const data::Dataset& ds, uint32_t u) {
  std::vector<std::string> out;
  for (uint64_t e = ds.user_begin(u); e < ds.user_end(u); ++e) out.emplace_back(ds.token(0, ds.column(0)[e]));
  return out;
}

}  // namespace userllm::test
