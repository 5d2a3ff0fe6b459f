#include "encoder/loss.h"

#include "data/dataset.h"

namespace userllm::encoder {

namespace F = torch::nn::functional;

torch::Tensor sampled_softmax_loss(const torch::Tensor& query, const torch::Tensor& table,
                                   const torch::Tensor& bias, const torch::Tensor& targets,
                                   const torch::Tensor& negatives, const torch::Tensor& log_q) {
  auto pos = (query * table.index_select(0, targets)).sum(-1) + bias.index_select(0, targets) -
             log_q.index_select(0, targets);                                            // [N]
  auto neg = torch::matmul(query, table.index_select(0, negatives).t()) +
             (bias.index_select(0, negatives) - log_q.index_select(0, negatives));     // [N, K]
  neg = neg.masked_fill(negatives.unsqueeze(0).eq(targets.unsqueeze(1)), -INFINITY);
  auto all = torch::cat({pos.unsqueeze(1), neg}, 1);
  return (torch::logsumexp(all, 1) - pos).mean();
}

LossResult next_event_loss(UserEncoder& model, const torch::Tensor& h, const torch::Tensor& targets,
                           const LossOptions& o) {
  const auto& fields = model->options().fields;
  const int item = model->options().item_field();
  LossResult r;
  auto flat_h = h.reshape({-1, h.size(-1)});
  for (int f = 0; f < static_cast<int>(fields.size()); ++f) {
    auto t = targets.select(-1, f).reshape({-1});
    auto keep = t.ne(static_cast<int64_t>(data::kPadId)).nonzero().squeeze(1);
    double w = o.field_weights.empty() ? 1.0 : o.field_weights.at(f);
    torch::Tensor loss;
    if (keep.numel() == 0) {
      loss = flat_h.sum() * 0.0;
    } else {
      auto hk = flat_h.index_select(0, keep);
      auto tk = t.index_select(0, keep);
      if (f == item && o.sampled_negatives > 0) {
        auto negs = torch::multinomial(o.item_log_q.exp(), o.sampled_negatives, /*replacement=*/true);
        loss = sampled_softmax_loss(model->query(hk, f), model->table(f), model->bias(f), tk, negs,
                                    o.item_log_q.to(hk.dtype()));
      } else {
        loss = F::cross_entropy(model->logits(hk, f), tk);
      }
    }
    if (!o.field_share.empty()) loss = loss * o.field_share.at(f);
    r.per_field.push_back(loss.item<double>());
    r.total = r.total.defined() ? r.total + w * loss : w * loss;
  }
  return r;
}

}  // namespace userllm::encoder
