// LineReader reads a file and the same bytes in memory alike: plain or gzip,
// several gzip members, bytes after the last member, and a truncated or
// corrupt stream (an Error either way).
#include <zlib.h>

#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/line_reader.h"
#include "test_util.h"

namespace userllm {
namespace {

std::string gzip(const std::string& text) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, uLong(text.size())) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  zs.avail_in = uInt(text.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = uInt(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

struct Read {
  std::vector<std::string> lines;
  uint64_t bytes = 0;
  std::string error;
};

Read read_all(const TextInput& in) {
  Read r;
  try {
    LineReader reader(in);
    std::string_view line;
    while (reader.next(line)) r.lines.emplace_back(line);
    r.bytes = reader.bytes_read();
  } catch (const Error& e) {
    r.error = e.what();
  }
  return r;
}

// Reads `bytes` from a file and from memory (under the file's own name) and checks they agree.
Read same_both_ways(const test::ScratchDir& dir, const std::string& bytes) {
  auto path = dir / "input";
  std::ofstream(path, std::ios::binary) << bytes;
  Read file = read_all(TextInput(path)), mem = read_all(TextInput(path.string(), bytes));
  EXPECT_EQ(file.lines, mem.lines);
  EXPECT_EQ(file.bytes, mem.bytes);
  EXPECT_EQ(file.error.empty(), mem.error.empty()) << "file: " << file.error << "\nmemory: " << mem.error;
  return mem;
}

std::string many_lines(size_t n) {
  std::mt19937 rng(7);
  std::string s;
  for (size_t i = 0; i < n; ++i) s += std::to_string(rng()) + (i % 3 ? ",x\r\n" : "\n");
  return s;
}

TEST(LineReader, PlainBytesInMemoryReadAsTheFile) {
  test::ScratchDir dir;
  for (std::string text : {std::string(), std::string("one"), std::string("a\nb\r\n\nlast"), many_lines(200000)}) {
    Read r = same_both_ways(dir, text);
    EXPECT_TRUE(r.error.empty()) << r.error;
  }
  Read r = same_both_ways(dir, "a\nb\r\n\nlast");
  EXPECT_EQ(r.lines, (std::vector<std::string>{"a", "b", "", "last"}));
}

TEST(LineReader, GzipInMemoryReadsAsTheFile) {
  test::ScratchDir dir;
  const std::string big = many_lines(200000);  // several MiB: more than one buffer
  Read r = same_both_ways(dir, gzip(big));
  EXPECT_TRUE(r.error.empty()) << r.error;
  EXPECT_EQ(r.bytes, big.size());
  // Members one after another are one stream, as gzip -c a b > ab makes them.
  r = same_both_ways(dir, gzip("first\nsec") + gzip("ond\nthird\n"));
  EXPECT_EQ(r.lines, (std::vector<std::string>{"first", "second", "third"}));
  // Bytes after the last member that start no other are ignored, as gzread ignores them.
  r = same_both_ways(dir, gzip("only\n") + "trailing junk");
  EXPECT_EQ(r.lines, (std::vector<std::string>{"only"}));
  EXPECT_TRUE(r.error.empty()) << r.error;
}

TEST(LineReader, TruncatedOrCorruptGzipIsAnErrorBothWays) {
  test::ScratchDir dir;
  const std::string z = gzip(many_lines(2000));  // less than one buffer either way
  Read cut = same_both_ways(dir, z.substr(0, z.size() / 2));
  EXPECT_NE(cut.error.find("truncated gzip data"), std::string::npos) << cut.error;
  EXPECT_EQ(cut.error.rfind((dir / "input").string() + ": ", 0), 0u) << cut.error;  // names the input
  std::string bad = z;
  bad[bad.size() / 2] = char(bad[bad.size() / 2] ^ 0x5a);
  Read corrupt = same_both_ways(dir, bad);
  EXPECT_NE(corrupt.error.find("gzip data"), std::string::npos) << corrupt.error;
  Read header_only = same_both_ways(dir, z.substr(0, 10));
  EXPECT_NE(header_only.error.find("truncated gzip data"), std::string::npos) << header_only.error;
}

}  // namespace
}  // namespace userllm
