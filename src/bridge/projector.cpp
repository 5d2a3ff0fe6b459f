#include "bridge/projector.h"

namespace userllm::bridge {

ProjectorImpl::ProjectorImpl(const ProjectorOptions& o) : o_(o) {
  if (!o.mlp()) {
    fc1_ = register_module("fc1", torch::nn::Linear(o.in_dim(), o.out_dim()));
    return;
  }
  int64_t hidden = o.hidden() > 0 ? o.hidden() : o.out_dim();
  fc1_ = register_module("fc1", torch::nn::Linear(o.in_dim(), hidden));
  fc2_ = register_module("fc2", torch::nn::Linear(hidden, o.out_dim()));
}

torch::Tensor ProjectorImpl::forward(const torch::Tensor& x) {
  if (!fc2_) return fc1_(x);
  return fc2_(torch::gelu(fc1_(x)));
}

}  // namespace userllm::bridge
