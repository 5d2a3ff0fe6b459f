#include "bridge/soft_prompt.h"

#include <ATen/ATen.h>

namespace userllm::bridge {

namespace {
torch::Tensor mask_or_ones(const torch::Tensor& mask, const torch::Tensor& x) {
  if (mask.defined()) return mask.to(torch::kLong);
  return torch::ones({x.size(0), x.size(1)}, torch::dtype(torch::kLong).device(x.device()));
}
}  // namespace

PackedInput pack_soft_prompt(const torch::Tensor& prefix, const torch::Tensor& prefix_mask,
                             const torch::Tensor& tokens, const torch::Tensor& token_mask) {
  auto embeds = torch::cat({prefix, tokens.to(prefix.dtype())}, 1);
  auto mask = torch::cat({mask_or_ones(prefix_mask, prefix), mask_or_ones(token_mask, tokens)}, 1);
  // A stable sort on the mask puts every pad (0) before every real entry (1)
  // and keeps the order within each group.
  auto order = std::get<1>(torch::sort(mask, /*stable=*/true, /*dim=*/1, /*descending=*/false));
  PackedInput out;
  out.embeds = embeds.gather(1, order.unsqueeze(-1).expand({-1, -1, embeds.size(2)}));
  out.key_mask = mask.gather(1, order);
  out.positions = (out.key_mask.cumsum(1) - 1).clamp_min(0);
  return out;
}

}  // namespace userllm::bridge
