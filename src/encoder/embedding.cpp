#include "encoder/embedding.h"

namespace userllm::encoder {

FieldEmbeddingsImpl::FieldEmbeddingsImpl(const std::vector<FieldSpec>& fields) {
  for (const auto& f : fields) {
    auto t = register_module("table_" + f.name, torch::nn::Embedding(f.vocab, f.dim));
    torch::nn::init::normal_(t->weight, 0.0, 0.02);
    tables_.push_back(t);
  }
}

std::vector<torch::Tensor> FieldEmbeddingsImpl::forward(const torch::Tensor& tokens) {
  std::vector<torch::Tensor> out;
  for (size_t f = 0; f < tables_.size(); ++f) out.push_back(tables_[f](tokens.select(-1, static_cast<int64_t>(f))));
  return out;
}

}  // namespace userllm::encoder
