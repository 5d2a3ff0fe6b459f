// Test helpers for the readers: a sink that keeps copies of everything it is
// given, and writers for plain and gzip fixture files.
#pragma once
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/atomic_file.h"
#include "common/error.h"
#include "data/log_builder.h"

namespace userllm::test {

struct Event {
  std::string user, item, text, summary;
  int64_t timestamp;
  std::optional<float> rating;
};

struct Item {
  std::string key, title, description, brand;
  int year;
  std::vector<std::string> genres;
};

class RecordingSink : public data::EventSink {
 public:
  void add_event(const data::RawEvent& e) override {
    events.push_back({std::string(e.user), std::string(e.item), std::string(e.text), std::string(e.summary),
                      e.timestamp, e.rating});
  }
  void add_item(const data::ItemRecord& r) override {
    items.push_back({std::string(r.key), std::string(r.title), std::string(r.description), std::string(r.brand),
                     r.year, r.genres});
  }
  data::PrepareReport& report() override { return report_; }

  const Item* item(const std::string& key) const {
    for (auto& i : items)
      if (i.key == key) return &i;
    return nullptr;
  }

  std::vector<Event> events;
  std::vector<Item> items;

 private:
  data::PrepareReport report_;
};

inline void write_text(const std::filesystem::path& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
}

inline void write_gzip(const std::filesystem::path& path, const std::string& content) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, content.data(), unsigned(content.size()));
  gzclose(f);
}

// The message of the userllm::Error that f throws; fails the test if none.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a userllm::Error";
  return {};
}

}  // namespace userllm::test
