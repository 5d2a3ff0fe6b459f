// Next-item ranking on the leave-last-out split: for every user with a target
// event, the model scores the whole catalogue from the history before it
// (its last max_len events). PAD and OOV are never ranked; items already in
// the history are NOT excluded. Targets whose item is OOV are skipped.
// A popularity baseline (train-event counts) is ranked on the same users.
#pragma once
#include <torch/types.h>

#include <cstdint>

#include "encoder/events.h"
#include "encoder/user_encoder.h"

namespace userllm::encoder {

enum class EvalSplit { kValidation, kTest };

struct EvalOptions {
  EvalSplit split = EvalSplit::kTest;
  int negatives = 0;        // > 0: rank the target among this many uniformly sampled items
  uint64_t seed = 1;        // for the sampled negatives
  int64_t max_users = 0;    // 0 = every user with a target
  int64_t batch_size = 128;
  bool progress = true;
  // Under a distributed world, each rank scores its shard of the users and the metrics
  // are summed over ranks (needs negatives 0: each rank's sampler would start over).
  bool sharded = false;
};

struct RankMetrics {
  double recall1 = 0, recall5 = 0, recall10 = 0, ndcg10 = 0;
  int64_t users = 0;
  void add(int64_t rank);  // 0-based rank of the target
  void finish();           // sums -> means
};

struct EvalResult {
  RankMetrics model, popularity;
  int64_t skipped_oov = 0;
};

EvalResult evaluate(UserEncoder& model, const Events& ev, const EvalOptions& o, const torch::Device& device);

// Target event of user u for the split, or UINT64_MAX when the user has none.
uint64_t target_event(const Events& ev, uint32_t u, EvalSplit s);

}  // namespace userllm::encoder
