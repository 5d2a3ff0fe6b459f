#include "eval/request.h"

#include "bridge/soft_prompt.h"
#include "common/error.h"

namespace userllm::eval {

using bridge::IntegrationKind;

UserSide user_side(bridge::UserLlm& model, const encoder::Events* ev, const tasks::EncodedExample& e) {
  UserSide u;
  if (model->options().integration == IntegrationKind::kText) return u;
  if (!ev) fail("the " + std::string(integration_name(model->options().integration)) + " integration needs the dataset's events");
  torch::NoGradGuard ng;
  auto [history, valid] = tasks::history_rows(*ev, e.history_begin, e.history_end, model->llm->device());
  u.events = valid.sum().item<int64_t>();
  std::tie(u.context, u.mask) = model->user_context(history, valid);
  return u;
}

int64_t prefill_positions(bridge::UserLlm& model, const tasks::EncodedExample& e, const UserSide& u) {
  int64_t n = int64_t(e.prompt.size());
  if (model->options().integration == IntegrationKind::kSoftPrompt) n += u.context.size(1);
  return n;
}

LlamaPrefix read_prompt(bridge::UserLlm& model, const tasks::EncodedExample& e, const UserSide& u, int64_t extra) {
  torch::NoGradGuard ng;
  switch (model->options().integration) {
    case IntegrationKind::kText:
      return LlamaPrefix::from_ids(model->llm, e.prompt, extra);
    case IntegrationKind::kSoftPrompt: {
      auto ids = torch::tensor(e.prompt, torch::kLong).to(model->llm->device()).unsqueeze(0);
      auto packed = bridge::pack_soft_prompt(u.context, u.mask, model->llm->embed(ids), {});
      return LlamaPrefix::from_embeddings(model->llm, packed.embeds, packed.key_mask, extra);
    }
    case IntegrationKind::kCrossAttention: {
      model->set_cross_context(u.context, u.mask);
      // The context's keys and values are computed once and served to every row.
      bridge::CrossAttentionStack cross = model->cross;
      return LlamaPrefix::from_ids(model->llm, e.prompt, extra, [cross](int64_t rows) mutable { cross->expand_context(rows); });
    }
  }
  fail("unknown integration");
}

std::vector<int64_t> greedy_decode(PrefixModel& p, int64_t max_new, int64_t eos) {
  std::vector<int64_t> out;
  p.reset();
  torch::Tensor lp = p.first_logprobs().view({1, -1});
  for (int64_t i = 0; i < max_new; ++i) {
    int64_t t = lp[0].argmax().item<int64_t>();
    if (eos >= 0 && t == eos) break;
    out.push_back(t);
    if (i + 1 < max_new) lp = p.step({0}, {t});
  }
  return out;
}

}  // namespace userllm::eval
