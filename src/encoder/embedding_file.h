// The user embeddings file (docs/data-format.md, "User embeddings"), written
// atomically and read back bounds-checked. No libtorch here: the reader runs
// over bytes in memory too, so it is fuzzed.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/mapped_file.h"

namespace userllm::encoder {

inline constexpr char kEmbeddingMagic[8] = {'U', 'L', 'L', 'M', 'E', 'M', 'B', '1'};

struct UserEmbeddings {
  uint32_t dim = 0;
  bool per_event = false;
  std::vector<uint64_t> offsets;  // user u owns rows [offsets[u], offsets[u + 1])
  std::vector<float> vectors;     // rows * dim
  std::vector<std::string> keys;  // user ids of the source data
  uint32_t num_users() const { return static_cast<uint32_t>(keys.size()); }
  const float* row(uint64_t r) const { return vectors.data() + r * dim; }
};

void write_embeddings(const std::filesystem::path& path, const UserEmbeddings& e);
UserEmbeddings read_embeddings(const std::filesystem::path& path);  // throws userllm::Error
UserEmbeddings read_embeddings(const ByteView& bytes);              // the same over bytes in memory

}  // namespace userllm::encoder
