// Users held in memory: the encoder's incremental state (serve/encoder_state.h)
// and the LLM's user vectors for the history they were computed from, in an
// LRU bounded by --max-users-in-memory. Only the engine thread touches it.
#pragma once
#include <torch/types.h>

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>

#include "encoder/user_encoder.h"

namespace userllm::serve {

struct UserState {
  encoder::EncoderState encoder;  // step() caches over the first `encoded` events
  int64_t encoded = 0;
  torch::Tensor embedding;        // [dim]: the last encoded event's embedding
  int64_t context_version = -1;   // the store version the vectors below were computed at
  torch::Tensor context, context_mask;  // [1, S, D], [1, S]
  std::vector<std::string> lines;       // text integration: the history the prompt reads
};

class UserCache {
 public:
  explicit UserCache(int64_t capacity) : capacity_(capacity) {}
  // The user's state, marked most recent; null when not in memory.
  std::shared_ptr<UserState> find(const std::string& user);
  // Inserts (or replaces) and returns the evicted users' states, oldest first, for the caller to persist.
  std::vector<std::pair<std::string, std::shared_ptr<UserState>>> put(const std::string& user,
                                                                      std::shared_ptr<UserState> s);
  void erase(const std::string& user);
  std::vector<std::pair<std::string, std::shared_ptr<UserState>>> all() const;
  int64_t size() const { return size_.load(); }  // any thread (metrics)

 private:
  int64_t capacity_;
  std::list<std::pair<std::string, std::shared_ptr<UserState>>> lru_;  // most recent first
  std::unordered_map<std::string, decltype(lru_)::iterator> index_;
  std::atomic<int64_t> size_{0};
};

// The encoder state as bytes for the store, and back. read_encoder_state checks every shape
// against the encoder and fails (userllm::Error) on anything else: the caller then recomputes.
// The last event's embedding travels with it.
std::string write_encoder_state(const encoder::EncoderState& s, const torch::Tensor& embedding);
encoder::EncoderState read_encoder_state(const std::string& bytes, const encoder::EncoderOptions& o,
                                         torch::Tensor* embedding);

}  // namespace userllm::serve
