// Event spans -> right-padded token tensors, and the training windows.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "encoder/encoder_options.h"
#include "encoder/events.h"

namespace userllm::encoder {

// Model fields for the events: item gets item_dim, every other field field_dim.
std::vector<FieldSpec> fields_for(const Events& ev, int item_dim, int field_dim);
// Throws userllm::Error when the events' fields do not match the model's.
void check_compatible(const Events& ev, const EncoderOptions& o);

// Events [begin, end) of one user.
struct Span {
  uint32_t user;
  uint64_t begin, end;
};

struct Batch {
  torch::Tensor tokens;  // [B, T, F] long, PAD after each row's events
  torch::Tensor valid;   // [B, T] bool
};

// Rows padded to the longest span.
Batch make_batch(const Events& ev, const std::vector<Span>& spans, const torch::Device& device);

// The last `max_events` events of user u before event `end`.
Span history_before(const Events& ev, uint32_t u, uint64_t end, int64_t max_events);

// Windows of `length` events over each user's train events, sliding by
// `stride`; the last window of a user ends at its last train event. Users
// with fewer than 2 train events give none (nothing to predict).
std::vector<Span> training_windows(const Events& ev, int64_t length, int64_t stride);

}  // namespace userllm::encoder
