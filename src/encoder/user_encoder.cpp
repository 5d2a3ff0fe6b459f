#include "encoder/user_encoder.h"

namespace userllm::encoder {

namespace nn = torch::nn;

TransformerOptions UserEncoderImpl::stream_options() const {
  TransformerOptions t;
  t.dim = o_.dim;
  t.heads = o_.heads;
  t.layers = o_.layers;
  t.ffn_mult = o_.ffn_mult;
  t.max_len = o_.max_len;
  t.dropout = o_.dropout;
  return t;
}

UserEncoderImpl::UserEncoderImpl(const EncoderOptions& o) : o_(o) {
  o_.validate();
  const int F = static_cast<int>(o_.fields.size());
  embed_ = register_module("embed", FieldEmbeddings(o_.fields));
  if (o_.fusion == Fusion::kEarly) {
    int concat = 0;
    for (const auto& f : o_.fields) concat += f.dim;
    in_proj_ = register_module("in_proj", nn::Linear(concat, o_.dim));
    streams_.push_back(register_module("stream", CausalTransformer(stream_options())));
  } else {
    for (const auto& f : o_.fields) {
      field_in_.push_back(register_module("in_" + f.name, nn::Linear(f.dim, o_.dim)));
      streams_.push_back(register_module("stream_" + f.name, CausalTransformer(stream_options())));
    }
    combine_ = register_module("combine", nn::Linear(F * o_.dim, o_.dim));
  }
  for (const auto& f : o_.fields) {
    head_.push_back(register_module("head_" + f.name, nn::Linear(o_.dim, f.dim)));
    biases_.push_back(register_parameter("bias_" + f.name, torch::zeros({f.vocab})));
  }
}

torch::Tensor UserEncoderImpl::forward(const torch::Tensor& tokens, const torch::Tensor& valid) {
  auto e = embed_(tokens);
  if (o_.fusion == Fusion::kEarly) return streams_[0](in_proj_(torch::cat(e, -1)), valid);
  std::vector<torch::Tensor> outs;
  for (size_t f = 0; f < e.size(); ++f) outs.push_back(streams_[f](field_in_[f](e[f]), valid));
  return combine_(torch::cat(outs, -1));
}

torch::Tensor UserEncoderImpl::step(const torch::Tensor& tokens, EncoderState& state) {
  state.caches.resize(streams_.size());
  auto e = embed_(tokens);  // each [B, dim_f]
  if (o_.fusion == Fusion::kEarly) return streams_[0]->step(in_proj_(torch::cat(e, -1)), state.caches[0]);
  std::vector<torch::Tensor> outs;
  for (size_t f = 0; f < e.size(); ++f) outs.push_back(streams_[f]->step(field_in_[f](e[f]), state.caches[f]));
  return combine_(torch::cat(outs, -1));
}

torch::Tensor UserEncoderImpl::query(const torch::Tensor& h, int f) { return head_[f](h); }

torch::Tensor UserEncoderImpl::logits(const torch::Tensor& h, int f) {
  return torch::matmul(query(h, f), table(f).t()) + bias(f);
}

torch::Tensor last_index(const torch::Tensor& valid) {
  return valid.to(torch::kLong).sum(1).sub(1).clamp_min(0);
}

torch::Tensor gather_last(const torch::Tensor& h, const torch::Tensor& valid) {
  auto idx = last_index(valid).view({-1, 1, 1}).expand({h.size(0), 1, h.size(2)});
  return h.gather(1, idx).squeeze(1);
}

}  // namespace userllm::encoder
