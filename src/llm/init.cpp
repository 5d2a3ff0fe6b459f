#include "llm/init.h"

#include <cmath>

namespace userllm::llm {

void init_weights(LlamaForCausalLMImpl& model, const InitOptions& opts) {
  torch::NoGradGuard no_grad;
  const auto& c = model.config();
  const double residual_std = opts.scale_residual ? opts.std / std::sqrt(2.0 * double(c.num_layers)) : opts.std;
  model.model->embed_tokens->weight.normal_(0, opts.std);
  auto projection = [&](Projection& p, double std) {
    p->weight.normal_(0, std);
    if (p->bias.defined()) p->bias.zero_();
  };
  for (auto& layer : model.model->layer_list) {
    auto& a = layer->self_attn;
    projection(a->q_proj, opts.std);
    projection(a->k_proj, opts.std);
    projection(a->v_proj, opts.std);
    projection(a->o_proj, residual_std);
    projection(layer->mlp->gate_proj, opts.std);
    projection(layer->mlp->up_proj, opts.std);
    projection(layer->mlp->down_proj, residual_std);
  }
  if (!model.lm_head.is_empty()) projection(model.lm_head, opts.std);
  // Norms keep their constructed neutral weights (ones, or zeros for Gemma).
}

}  // namespace userllm::llm
