// User embeddings for every user (the file format: encoder/embedding_file.h).
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

#include "encoder/embedding_file.h"
#include "encoder/events.h"
#include "encoder/user_encoder.h"

namespace userllm::encoder {

// Embeds every user (batches on `device`). keys: one per user, may be empty strings.
UserEmbeddings embed_users(UserEncoder& model, const Events& ev, const std::vector<std::string>& keys,
                           bool per_event, const torch::Device& device, int64_t batch_size = 64);

}  // namespace userllm::encoder
