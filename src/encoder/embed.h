// User embeddings for every user, written in the binary format documented in
// docs/data-format.md ("User embeddings"), and read back bounds-checked.
//
// The user vector is the last event's embedding over the user's last max_len
// events (what evaluation ranks with). --per-event gives every event's
// embedding over the whole history under the sliding-window rule of
// transformer.h, which is exactly what incremental updates produce.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "encoder/events.h"
#include "encoder/user_encoder.h"

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

// Embeds every user (batches on `device`). keys: one per user, may be empty strings.
UserEmbeddings embed_users(UserEncoder& model, const Events& ev, const std::vector<std::string>& keys,
                           bool per_event, const torch::Device& device, int64_t batch_size = 64);

void write_embeddings(const std::filesystem::path& path, const UserEmbeddings& e);
UserEmbeddings read_embeddings(const std::filesystem::path& path);  // throws userllm::Error

}  // namespace userllm::encoder
