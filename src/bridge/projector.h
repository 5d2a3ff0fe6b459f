// Maps user embeddings from the encoder's width to the LLM's: a linear layer,
// or a two-layer MLP (the paper's projection layer).
#pragma once
#include <torch/nn.h>

namespace userllm::bridge {

struct ProjectorOptions {
  ProjectorOptions(int64_t in_dim, int64_t out_dim) : in_dim_(in_dim), out_dim_(out_dim) {}
  TORCH_ARG(int64_t, in_dim);
  TORCH_ARG(int64_t, out_dim);
  TORCH_ARG(bool, mlp) = false;     // Linear -> GELU -> Linear when true
  TORCH_ARG(int64_t, hidden) = 0;   // MLP width; 0 means out_dim
};

class ProjectorImpl : public torch::nn::Module {
 public:
  explicit ProjectorImpl(const ProjectorOptions& o);
  torch::Tensor forward(const torch::Tensor& x);  // [.., in_dim] -> [.., out_dim]
  const ProjectorOptions& options() const { return o_; }

 private:
  ProjectorOptions o_;
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
};
TORCH_MODULE(Projector);

}  // namespace userllm::bridge
