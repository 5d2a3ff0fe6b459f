// One embedding table per event field (item, genre, rating, time gap, ...).
// The same tables give the output weights of the next-event heads (tied).
#pragma once
#include <torch/nn.h>

#include <vector>

#include "encoder/encoder_options.h"

namespace userllm::encoder {

class FieldEmbeddingsImpl : public torch::nn::Module {
 public:
  explicit FieldEmbeddingsImpl(const std::vector<FieldSpec>& fields);
  // tokens [..., F] long. Returns one [..., dim_f] tensor per field.
  std::vector<torch::Tensor> forward(const torch::Tensor& tokens);
  const torch::Tensor& table(int field) const { return tables_[field]->weight; }
  int num_fields() const { return static_cast<int>(tables_.size()); }

 private:
  std::vector<torch::nn::Embedding> tables_;
};
TORCH_MODULE(FieldEmbeddings);

}  // namespace userllm::encoder
