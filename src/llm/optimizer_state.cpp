#include "llm/optimizer_state.h"

#include "common/error.h"

namespace userllm::llm {

void check_adamw_state(torch::optim::Optimizer& opt, const std::string& source) {
  for (const auto& group : opt.param_groups())
    for (const auto& p : group.params()) {
      auto it = opt.state().find(c10::guts::to_string(p.unsafeGetTensorImpl()));
      if (it == opt.state().end()) continue;
      auto& s = static_cast<torch::optim::AdamWParamState&>(*it->second);
      if (s.exp_avg().sizes() != p.sizes() || s.exp_avg_sq().sizes() != p.sizes())
        fail(source + ": optimiser state does not match the model");
    }
}

}  // namespace userllm::llm
