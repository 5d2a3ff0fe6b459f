// Preparation steps on the raw log: ordering, duplicate removal and k-core.
// They work on event indices and a keep mask, never moving the columns.
#pragma once
#include <cstdint>
#include <vector>

#include "data/columns.h"

namespace userllm::data {

// Event indices grouped by user (in interned order), each user's events
// stably sorted by time. user_offsets[u]..user_offsets[u+1] index into the result.
std::vector<uint32_t> order_events(const RawColumns& log, uint32_t num_users, std::vector<uint64_t>& user_offsets);

// Clears keep[] for every event identical (time, item, rating, text, summary)
// to an earlier event of the same user. Returns how many were dropped.
uint64_t drop_duplicates(const RawColumns& log, const std::vector<uint32_t>& order,
                         const std::vector<uint64_t>& user_offsets, std::vector<uint8_t>& keep);

// Repeatedly drops events of users with fewer than min_user kept events and
// of items with fewer than min_item, until both hold (a fixed point).
// Returns how many events it dropped.
uint64_t k_core(const RawColumns& log, uint32_t num_users, uint32_t num_items, uint32_t min_user, uint32_t min_item,
                std::vector<uint8_t>& keep);

}  // namespace userllm::data
