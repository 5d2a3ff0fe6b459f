// Shared by the reader fuzzers: a sink that reads every byte it is given (so
// ASan sees a view that outlives its line) without keeping anything.
#pragma once
#include <cstdint>
#include <string_view>

#include "common/error.h"
#include "data/log_builder.h"
#include "data/readers.h"
#include "fuzz_split.h"

namespace userllm::fuzz {

class TouchingSink : public data::EventSink {
 public:
  void add_event(const data::RawEvent& e) override {
    touch(e.user), touch(e.item), touch(e.text), touch(e.summary);
    sum_ += uint64_t(e.timestamp) + (e.rating ? uint64_t(*e.rating * 2) : 0);
  }
  void add_item(const data::ItemRecord& r) override {
    touch(r.key), touch(r.title), touch(r.description), touch(r.brand);
    for (auto& g : r.genres) touch(g);
    sum_ += uint64_t(r.year);
  }
  data::PrepareReport& report() override { return report_; }
  uint64_t sum() const { return sum_; }

 private:
  void touch(std::string_view s) {
    for (char c : s) sum_ += uint8_t(c);
  }
  data::PrepareReport report_;
  uint64_t sum_ = 0;
};

// Runs read(sink, options) strict and then skipping bad lines: a bad input
// may throw userllm::Error, and nothing else may come out.
template <class Read>
void run_both_ways(Read&& read) {
  quiet();
  for (bool skip : {false, true}) {
    TouchingSink sink;
    data::ReadOptions options;
    options.skip_bad_lines = skip;
    try {
      read(sink, options);
    } catch (const Error&) {
    }
  }
}

}  // namespace userllm::fuzz
