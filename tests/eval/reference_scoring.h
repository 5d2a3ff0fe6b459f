// The reference the eval tests compare cached scoring against.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "llm/llama.h"

namespace userllm::test {

// Sum of log-probs of seq after prompt from one full forward pass, no cache, in double.
inline double full_forward_logprob(llm::LlamaForCausalLM& model, const std::vector<int64_t>& prompt,
                                   const std::vector<int64_t>& seq) {
  torch::NoGradGuard ng;
  std::vector<int64_t> full = prompt;
  full.insert(full.end(), seq.begin(), seq.end());
  auto lp = torch::log_softmax(model->forward(torch::tensor(full).unsqueeze(0)).to(torch::kFloat64), -1)[0];
  double sum = 0;
  for (size_t t = 0; t < seq.size(); ++t) sum += lp[int64_t(prompt.size() + t) - 1][seq[t]].item<double>();
  return sum;
}

}  // namespace userllm::test
