// Next-event losses: at every position, every field of the next event is
// predicted by its own softmax head; the loss is a weighted sum of the
// per-field cross-entropies. Large item vocabularies can use a sampled
// softmax with the logQ correction (Jean et al. 2015; Yi et al. 2019).
#pragma once
#include <torch/nn.h>

#include <vector>

#include "encoder/user_encoder.h"

namespace userllm::encoder {

// Mean over rows of -log softmax over {target, negatives}, where every logit
// is q . w_j + b_j - log_q[j]. A negative equal to the row's target is masked.
// query [N, d], table [V, d], bias [V], targets [N], negatives [K], log_q [V].
torch::Tensor sampled_softmax_loss(const torch::Tensor& query, const torch::Tensor& table,
                                   const torch::Tensor& bias, const torch::Tensor& targets,
                                   const torch::Tensor& negatives, const torch::Tensor& log_q);

struct LossOptions {
  std::vector<double> field_weights;  // one per field; empty = all 1
  int sampled_negatives = 0;          // > 0: sampled softmax for the item field
  torch::Tensor item_log_q;           // [V] log proposal probabilities (sampled softmax only)
  // One per field; empty = all 1. A rank's share of the whole batch's mean (its targets
  // over all ranks'): scales `total` and `per_field`, so that their sums over ranks are
  // the means one process would compute.
  std::vector<double> field_share;
};

struct LossResult {
  torch::Tensor total;                // weighted sum, differentiable
  std::vector<double> per_field;      // each field's mean cross-entropy
};

// h [B, T, dim] from forward(tokens[:, :-1]); targets [B, T, F] = tokens[:, 1:].
// PAD targets are ignored.
LossResult next_event_loss(UserEncoder& model, const torch::Tensor& h, const torch::Tensor& targets,
                           const LossOptions& o);

}  // namespace userllm::encoder
