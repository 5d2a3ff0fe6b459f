// The binary format: a round trip keeps everything, and truncated or
// corrupted files give an Error naming the file and a byte offset, never a crash.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "common/atomic_file.h"
#include "common/error.h"
#include "data/format.h"
#include "test_dataset_util.h"
#include "test_util.h"

using namespace userllm;
using namespace userllm::data;
using test::Row;

namespace {

std::vector<Row> sample_rows() {
  std::vector<Row> rows;
  for (int u = 0; u < 6; ++u)
    for (int t = 0; t < 4 + u; ++t)
      rows.push_back({"user" + std::to_string(u), 1000 + 7 * t, "m" + std::to_string((u * 3 + t) % 9),
                      float(0.5 * (1 + (u + t) % 10)), t % 2 ? "review " + std::to_string(t) : ""});
  return rows;
}

std::vector<std::pair<std::string, std::vector<std::string>>> sample_genres() {
  return {{"m0", {"Drama"}}, {"m1", {"Comedy", "Drama"}}, {"m2", {"War"}}, {"m3", {"Sci-Fi", "Horror"}}};
}

void write_bytes(const std::filesystem::path& dir, const std::string& bytes) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "events.bin", std::ios::binary) << bytes;
}

// Opens and touches everything; returns the Error message, or "" when the file is valid.
std::string open_error(const std::filesystem::path& dir) {
  try {
    Dataset ds = Dataset::open(dir);
    for (uint32_t u = 0; u < ds.num_users(); ++u) (void)ds.user_key(u);
    for (size_t f = 0; f < ds.fields().size(); ++f)
      for (uint32_t t = 0; t < ds.fields()[f].vocab_size; ++t) (void)ds.token(int(f), t);
    for (uint32_t i = 0; i < ds.num_items(); ++i) (void)ds.item_genres(i), (void)ds.item_title(i);
    for (uint64_t e = 0; e < ds.num_events(); ++e) (void)ds.event_text(e);
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

uint64_t u64_at(const std::string& s, size_t at) {
  uint64_t v;
  std::memcpy(&v, s.data() + at, 8);
  return v;
}

// Byte offset of a section's table entry.
size_t entry_of(const std::string& file, const std::string& name) {
  uint32_t n;
  std::memcpy(&n, file.data() + 12, 4);
  for (uint32_t i = 0; i < n; ++i) {
    size_t at = kHeaderBytes + kSectionEntryBytes * i;
    if (std::string(file.data() + at) == name) return at;
  }
  ADD_FAILURE() << "no section " << name;
  return 0;
}

}  // namespace

TEST(DatasetFormat, RoundTripKeepsEverything) {
  test::ScratchDir dir;
  auto rows = sample_rows();
  Dataset ds = test::build_dataset(dir / "d", rows, {}, sample_genres());
  EXPECT_EQ(ds.num_users(), 6u);
  EXPECT_EQ(ds.num_events(), rows.size());
  EXPECT_EQ(ds.num_items(), 9u + 2);
  int rf = ds.field_index("rating"), gf = ds.field_index("genre");
  // Every input row is found, with its rating and text, under its user.
  std::multiset<std::string> want, got;
  for (const auto& r : rows) {
    char rating[8];
    std::snprintf(rating, sizeof rating, "%.1f", r.rating);
    want.insert(r.user + "|" + std::to_string(r.ts) + "|" + r.item + "|" + rating + "|" + r.text);
  }
  for (uint32_t u = 0; u < ds.num_users(); ++u)
    for (uint64_t e = ds.user_begin(u); e < ds.user_end(u); ++e)
      got.insert(std::string(ds.user_key(u)) + "|" + std::to_string(ds.timestamps()[e]) + "|" +
                 std::string(ds.token(0, ds.column(0)[e])) + "|" + std::string(ds.token(rf, ds.column(rf)[e])) + "|" +
                 std::string(ds.event_text(e)));
  EXPECT_EQ(got, want);
  uint32_t m1 = *ds.lookup(0, "m1");
  auto g = ds.item_genres(m1);
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(ds.token(gf, g[0]), "Comedy");
  EXPECT_EQ(ds.item_title(m1), "Title m1");
  EXPECT_EQ(ds.item_title(*ds.lookup(0, "m8")), "m8");
  EXPECT_EQ(ds.name(), "movielens");
  EXPECT_NE(ds.metadata_json().find("\"events\""), std::string::npos);

  // Moving keeps the mapping alive.
  Dataset moved = std::move(ds);
  EXPECT_EQ(moved.num_events(), rows.size());
}

TEST(DatasetFormat, SectionsAreAligned) {
  test::ScratchDir dir;
  test::build_dataset(dir / "d", sample_rows(), {}, sample_genres());
  std::string file = read_file(dir / "d" / "events.bin");
  EXPECT_EQ(file.substr(0, 8), std::string(kMagic, 8));
  EXPECT_EQ(file.size() % kSectionAlign, 0u);
  uint32_t n;
  std::memcpy(&n, file.data() + 12, 4);
  EXPECT_GE(n, 10u);
  for (uint32_t i = 0; i < n; ++i) {
    uint64_t off = u64_at(file, kHeaderBytes + kSectionEntryBytes * i + kSectionNameBytes);
    EXPECT_EQ(off % kSectionAlign, 0u);
  }
}

TEST(DatasetFormat, TruncatedFilesGiveClearErrors) {
  test::ScratchDir dir;
  test::build_dataset(dir / "d", sample_rows(), {}, sample_genres());
  std::string file = read_file(dir / "d" / "events.bin");
  for (size_t cut : {size_t(0), size_t(5), size_t(15), size_t(16), size_t(40), size_t(100), file.size() / 3,
                     file.size() / 2, file.size() - 65, file.size() - 64 - 1}) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    auto d = dir / ("t" + std::to_string(cut));
    write_bytes(d, file.substr(0, cut));
    std::string err = open_error(d);
    EXPECT_NE(err.find("events.bin"), std::string::npos) << err;
    EXPECT_NE(err.find("byte"), std::string::npos) << err;
  }
}

TEST(DatasetFormat, CorruptHeadersGiveClearErrors) {
  test::ScratchDir dir;
  test::build_dataset(dir / "d", sample_rows(), {}, sample_genres());
  const std::string file = read_file(dir / "d" / "events.bin");
  auto corrupt = [&](const std::string& label, size_t at, uint64_t value, size_t width, const std::string& expect) {
    SCOPED_TRACE(label);
    std::string bad = file;
    std::memcpy(bad.data() + at, &value, width);
    auto d = dir / label;
    write_bytes(d, bad);
    std::string err = open_error(d);
    EXPECT_NE(err.find("events.bin: byte "), std::string::npos) << err;
    EXPECT_NE(err.find(expect), std::string::npos) << err;
  };
  corrupt("magic", 0, 0x58585858, 4, "magic");
  corrupt("version", 8, 99, 4, "version");
  corrupt("count", 12, 0xFFFFFFFF, 4, "section count");
  corrupt("count_big", 12, 4000, 4, "past the end");
  size_t ts = entry_of(file, "timestamps"), col = entry_of(file, "col.item"), users = entry_of(file, "user_offsets");
  corrupt("size_huge", ts + kSectionNameBytes + 8, ~uint64_t(0) / 2, 8, "past the end");
  corrupt("size_short", ts + kSectionNameBytes + 8, 8, 8, "timestamps");
  corrupt("offset_huge", col + kSectionNameBytes, uint64_t(1) << 40, 8, "past the end");
  corrupt("offset_unaligned", col + kSectionNameBytes, 65, 8, "aligned");
  corrupt("name", entry_of(file, "meta"), 0x78, 1, "\"meta\" is missing");
  uint64_t user_sec = u64_at(file, users + kSectionNameBytes);
  corrupt("user_offsets", user_sec + 8, 1u << 30, 8, "user_offsets");
  uint64_t col_sec = u64_at(file, col + kSectionNameBytes);
  corrupt("item_id", col_sec + 4, 1000, 4, "outside its vocabulary");
  uint64_t vocab_sec = u64_at(file, entry_of(file, "vocab.item") + kSectionNameBytes);
  corrupt("vocab_count", vocab_sec, 1u << 20, 8, "strings, expected");
  corrupt("vocab_offset", vocab_sec + 8 + 8 * 3, 1u << 20, 8, "string offset");
  uint64_t meta_sec = u64_at(file, entry_of(file, "meta") + kSectionNameBytes);
  corrupt("meta_json", meta_sec, 0x7B7B7B7B, 4, "metadata");
}

TEST(DatasetFormat, EveryFlippedHeaderByteIsCaught) {
  // Single-byte corruption anywhere in the header, section table or metadata
  // either still opens (a harmless byte) or gives an Error; never a crash.
  test::ScratchDir dir;
  test::build_dataset(dir / "d", sample_rows(), {}, sample_genres());
  const std::string file = read_file(dir / "d" / "events.bin");
  uint64_t meta_off = u64_at(file, entry_of(file, "meta") + kSectionNameBytes);
  uint64_t meta_size = u64_at(file, entry_of(file, "meta") + kSectionNameBytes + 8);
  int errors = 0;
  for (size_t at = 0; at < meta_off + meta_size; at += 3) {
    std::string bad = file;
    bad[at] = char(bad[at] ^ 0x5A);
    write_bytes(dir / "f", bad);
    if (!open_error(dir / "f").empty()) ++errors;
  }
  EXPECT_GT(errors, 40);
}

TEST(DatasetFormat, MissingDirectoryIsAnError) {
  test::ScratchDir dir;
  try {
    Dataset::open(dir / "nope");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("data prepare"), std::string::npos);
  }
}
