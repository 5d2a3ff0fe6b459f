// Shared by the reader fuzzers: a scratch directory per process, and a sink
// that reads every byte it is given (so ASan sees a view that outlives its
// line) without keeping anything.
#pragma once
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/progress.h"
#include "data/readers.h"
#include "data/log_builder.h"

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

// A directory of this process's own, emptied for each input and removed at exit.
// Leaked on purpose: the atexit handler must run after static destructors could.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path* dir = [] {
    Progress::set_enabled(false);
    spdlog::set_level(spdlog::level::off);
    auto* d = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                        ("userllm-fuzz-" + std::to_string(::getpid())));
    std::filesystem::create_directories(*d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_dir(), ec);
    });
    return d;
  }();
  return *dir;
}

inline void reset_scratch() {
  for (auto& entry : std::filesystem::directory_iterator(scratch_dir())) std::filesystem::remove_all(entry.path());
}

inline std::filesystem::path write_input(const std::string& name, std::string_view bytes) {
  auto path = scratch_dir() / name;
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
  return path;
}

// The files of one input are joined by this line. Not NUL: gzip data holds
// NUL bytes, and any of the files may be gzip.
inline constexpr std::string_view kFileSeparator = "\n--next-file--\n";

// Splits the input into up to n files (the last takes the rest).
inline std::vector<std::string_view> split_parts(std::string_view in, size_t n) {
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < n) {
    size_t at = in.find(kFileSeparator);
    if (at == std::string_view::npos) break;
    parts.push_back(in.substr(0, at));
    in.remove_prefix(at + kFileSeparator.size());
  }
  parts.push_back(in);
  return parts;
}

// Runs read(sink, options) strict and then skipping bad lines: a bad input
// may throw userllm::Error, and nothing else may come out.
template <class Read>
void run_both_ways(Read&& read) {
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
