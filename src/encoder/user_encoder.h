// The user encoder: per-field embeddings, fused early (one token per event,
// one Transformer) or late (one Transformer per field, outputs combined), and
// one next-event head per field whose output weights are the input tables.
#pragma once
#include <torch/nn.h>

#include <vector>

#include "encoder/embedding.h"
#include "encoder/encoder_options.h"
#include "encoder/transformer.h"

namespace userllm::encoder {

// Incremental-encoding state of a batch of users: one cache per Transformer.
struct EncoderState {
  std::vector<KVCache> caches;
  int64_t length() const { return caches.empty() ? 0 : caches[0].length; }
};

class UserEncoderImpl : public torch::nn::Module {
 public:
  explicit UserEncoderImpl(const EncoderOptions& o);
  // tokens [B, T, F] long, right-padded; valid [B, T] bool. One embedding per
  // event: [B, T, dim]. The user vector is the last valid row.
  torch::Tensor forward(const torch::Tensor& tokens, const torch::Tensor& valid);
  // Appends one event per row (tokens [B, F]) and returns its embedding [B, dim];
  // equal to forward() over the whole history, at a cost bounded by max_len.
  torch::Tensor step(const torch::Tensor& tokens, EncoderState& state);

  // Head of field f: logits = query(h, f) . table(f)^T + bias(f).
  torch::Tensor query(const torch::Tensor& h, int f);
  torch::Tensor logits(const torch::Tensor& h, int f);
  const torch::Tensor& table(int f) const { return embed_->table(f); }
  const torch::Tensor& bias(int f) const { return biases_[f]; }
  const EncoderOptions& options() const { return o_; }

 private:
  TransformerOptions stream_options() const;
  EncoderOptions o_;
  FieldEmbeddings embed_{nullptr};
  torch::nn::Linear in_proj_{nullptr};      // early: concat(fields) -> dim
  std::vector<torch::nn::Linear> field_in_;  // late: field -> dim, one per field
  torch::nn::Linear combine_{nullptr};      // late: concat(streams) -> dim
  std::vector<CausalTransformer> streams_;   // early: 1, late: one per field
  std::vector<torch::nn::Linear> head_;      // dim -> field dim
  std::vector<torch::Tensor> biases_;
};
TORCH_MODULE(UserEncoder);

// Index of the last valid event of each row: [B] long.
torch::Tensor last_index(const torch::Tensor& valid);
// Rows h[b, last_index(valid)[b]]: [B, dim].
torch::Tensor gather_last(const torch::Tensor& h, const torch::Tensor& valid);

}  // namespace userllm::encoder
