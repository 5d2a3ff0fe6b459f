// The readers over bytes in memory (what the fuzzers run) read exactly what
// they read from the same files: every seed of the reader fuzzers, plain and
// gzip, gives the same events, items, counts and errors both ways.
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>

#include "data/readers.h"
#include "recording_sink.h"
#include "test_util.h"

namespace userllm {
namespace {

namespace fs = std::filesystem;

const std::string kSeparator = "\n--next-file--\n";  // fuzz/fuzz_split.h

std::vector<std::string> split(const std::string& in, size_t n) {
  std::vector<std::string> parts;
  size_t from = 0;
  while (parts.size() + 1 < n) {
    size_t at = in.find(kSeparator, from);
    if (at == std::string::npos) break;
    parts.push_back(in.substr(from, at - from));
    from = at + kSeparator.size();
  }
  parts.push_back(in.substr(from));
  return parts;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<fs::path> seeds(const std::string& target) {
  std::vector<fs::path> out;
  for (auto& e : fs::recursive_directory_iterator(fs::path(USERLLM_SOURCE_DIR) / "fuzz/corpus" / target))
    if (e.is_regular_file()) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

struct Outcome {
  test::RecordingSink sink;
  std::string error;
};

template <class Read>
Outcome run(Read&& read) {
  Outcome o;
  for (bool skip : {false, true}) {
    data::ReadOptions options;
    options.skip_bad_lines = skip;
    try {
      read(o.sink, options);
    } catch (const Error& e) {
      o.error += std::string(e.what()) + "\n";
    }
  }
  return o;
}

void expect_same(const Outcome& file, const Outcome& mem, const std::string& dir_prefix, const fs::path& seed) {
  SCOPED_TRACE(seed.string());
  ASSERT_EQ(file.sink.events.size(), mem.sink.events.size());
  for (size_t i = 0; i < file.sink.events.size(); ++i) {
    const auto &a = file.sink.events[i], &b = mem.sink.events[i];
    EXPECT_EQ(std::tie(a.user, a.item, a.text, a.summary, a.timestamp, a.rating),
              std::tie(b.user, b.item, b.text, b.summary, b.timestamp, b.rating));
  }
  ASSERT_EQ(file.sink.items.size(), mem.sink.items.size());
  for (size_t i = 0; i < file.sink.items.size(); ++i) {
    const auto &a = file.sink.items[i], &b = mem.sink.items[i];
    EXPECT_EQ(std::tie(a.key, a.title, a.description, a.brand, a.year, a.genres),
              std::tie(b.key, b.title, b.description, b.brand, b.year, b.genres));
  }
  auto& fr = const_cast<test::RecordingSink&>(file.sink).report();
  auto& mr = const_cast<test::RecordingSink&>(mem.sink).report();
  EXPECT_EQ(fr.lines_read, mr.lines_read);
  EXPECT_EQ(fr.skipped_lines, mr.skipped_lines);
  std::string file_error = file.error;
  for (size_t at; (at = file_error.find(dir_prefix)) != std::string::npos;) file_error.erase(at, dir_prefix.size());
  EXPECT_EQ(file_error, mem.error);
}

TEST(ReadersInMemory, MovieLensSeedsReadAsTheirFiles) {
  const char* const kFiles[3][3] = {
      {"ratings.csv", "movies.csv", "tags.csv"}, {"ratings.dat", "movies.dat", "tags.dat"}, {"u.data", "u.item", ""}};
  auto all = seeds("movielens");
  ASSERT_GE(all.size(), 4u);
  for (const auto& seed : all) {
    const std::string bytes = slurp(seed);
    if (bytes.empty()) continue;
    test::ScratchDir dir;
    const auto& names = kFiles[uint8_t(bytes[0]) % 3];
    auto parts = split(bytes.substr(1), 3);
    std::map<std::string, std::string_view> files;
    for (size_t i = 0; i < parts.size(); ++i) {
      if (!*names[i]) continue;
      test::write_text(dir / names[i], parts[i]);
      files[names[i]] = parts[i];
    }
    auto file = run([&](auto& sink, auto& o) { data::read_movielens(dir.path(), sink, o); });
    auto mem = run([&](auto& sink, auto& o) { data::read_movielens(files, sink, o); });
    expect_same(file, mem, (dir.path() / "").string(), seed);
  }
}

template <class Read>
void json_seeds_read_as_their_files(const std::string& target, Read&& read) {
  auto all = seeds(target);
  ASSERT_GE(all.size(), 2u);
  for (const auto& seed : all) {
    test::ScratchDir dir;
    auto parts = split(slurp(seed), 2);
    test::write_text(dir / "reviews.json", parts[0]);
    std::optional<TextInput> meta_file, meta_mem;
    if (parts.size() > 1) {
      test::write_text(dir / "meta.json", parts[1]);
      meta_file = TextInput(dir / "meta.json");
      meta_mem = TextInput("meta.json", parts[1]);
    }
    auto file = run([&](auto& sink, auto& o) { read(TextInput(dir / "reviews.json"), meta_file, sink, o); });
    auto mem = run([&](auto& sink, auto& o) { read(TextInput("reviews.json", parts[0]), meta_mem, sink, o); });
    expect_same(file, mem, (dir.path() / "").string(), seed);
  }
}

TEST(ReadersInMemory, AmazonSeedsReadAsTheirFiles) {
  json_seeds_read_as_their_files("amazon", [](auto&&... a) { data::read_amazon(a...); });
}

TEST(ReadersInMemory, GoogleLocalSeedsReadAsTheirFiles) {
  json_seeds_read_as_their_files("google_local", [](auto&&... a) { data::read_google_local(a...); });
}

}  // namespace
}  // namespace userllm
