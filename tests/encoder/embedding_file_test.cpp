// The embeddings file read from bytes: fuzz_embeddings found a file with no
// rows (users whose histories are empty) reaching memcpy(nullptr, ..., 0).
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "common/error.h"
#include "encoder/embedding_file.h"

namespace userllm::encoder {
namespace {

std::string file_of(uint32_t dim, const std::vector<uint64_t>& offsets, const std::vector<std::string>& keys,
                    bool per_event) {
  std::string out(kEmbeddingMagic, 8);
  auto put = [&](const auto& v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); };
  put(uint32_t(1)), put(dim), put(uint32_t(keys.size())), put(uint32_t(per_event)), put(uint64_t(offsets.back()));
  for (uint64_t o : offsets) put(o);
  for (uint64_t i = 0; i < offsets.back() * dim; ++i) put(float(i));
  for (const auto& k : keys) put(uint32_t(k.size())), out += k;
  return out;
}

UserEmbeddings read(const std::string& bytes) {
  return read_embeddings(ByteView(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "u.emb"));
}

TEST(EmbeddingFile, UsersWithoutRowsAndCorruptFiles) {
  auto none = read(file_of(4, {0, 0, 0}, {"a", "b"}, true));
  EXPECT_EQ(none.num_users(), 2u);
  EXPECT_TRUE(none.vectors.empty());
  auto some = read(file_of(2, {0, 1, 3}, {"x", ""}, true));
  ASSERT_EQ(some.vectors.size(), 6u);
  EXPECT_EQ(some.row(2)[1], 5.0f);
  EXPECT_EQ(some.keys[0], "x");
  const std::string good = file_of(2, {0, 1, 3}, {"x", ""}, true);
  EXPECT_THROW(read(good.substr(0, good.size() - 1)), Error);
  EXPECT_THROW(read(good + "!"), Error);
  EXPECT_THROW(read(file_of(2, {0, 3, 1}, {"x", "y"}, true)), Error);  // offsets decrease
  EXPECT_THROW(read(good.substr(0, 31)), Error);
}

}  // namespace
}  // namespace userllm::encoder
