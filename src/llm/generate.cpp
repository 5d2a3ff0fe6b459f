#include "llm/generate.h"

#include <algorithm>

#include "common/error.h"

namespace userllm::llm {

std::vector<std::vector<int64_t>> generate(LlamaForCausalLM& model, const std::vector<std::vector<int64_t>>& prompts,
                                           const GenerateOptions& opts, const TokenCallback& on_token) {
  torch::NoGradGuard no_grad;
  const auto& cfg = model->config();
  const int64_t B = int64_t(prompts.size());
  if (B == 0) return {};
  int64_t P = 0, shortest = INT64_MAX;
  for (const auto& p : prompts) {
    if (p.empty()) fail("generate: empty prompt (a prompt needs at least one token, e.g. BOS)");
    P = std::max<int64_t>(P, int64_t(p.size()));
    shortest = std::min<int64_t>(shortest, int64_t(p.size()));
  }
  const int64_t max_len = opts.max_length > 0 ? std::min(opts.max_length, cfg.context_length())
                                              : cfg.context_length();
  if (P > max_len)
    fail("generate: prompt of " + std::to_string(P) + " tokens does not fit the context of " + std::to_string(max_len));
  const int64_t steps = std::max<int64_t>(0, std::min(opts.max_new_tokens, max_len - shortest));
  const auto dev = model->device();
  const auto long_opts = torch::TensorOptions().dtype(torch::kLong);

  // Left-pad: row b's tokens end at column P - 1.
  auto ids = torch::zeros({B, P}, long_opts);
  auto mask = torch::zeros({B, P}, long_opts);
  std::vector<int64_t> next_pos(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    const auto& p = prompts[size_t(b)];
    const int64_t off = P - int64_t(p.size());
    for (size_t i = 0; i < p.size(); ++i) ids[b][off + int64_t(i)] = p[i];
    mask[b].narrow(0, off, int64_t(p.size())).fill_(1);
    next_pos[size_t(b)] = int64_t(p.size());
  }
  const bool padded = shortest != P;
  ids = ids.to(dev);
  mask = mask.to(dev);

  std::vector<Sampler> samplers;
  for (int64_t b = 0; b < B; ++b) {
    auto sp = opts.sampling;
    sp.seed += uint64_t(b);
    samplers.emplace_back(sp);
  }
  std::vector<std::vector<int64_t>> out(static_cast<size_t>(B));
  std::vector<bool> done(static_cast<size_t>(B), false);
  if (steps == 0) return out;

  std::unique_ptr<KVCache> cache;
  if (opts.use_cache)
    cache = std::make_unique<KVCache>(cfg, B, P + steps, dev, model->model->embed_tokens->weight.scalar_type());
  auto last_logits = [&](const torch::Tensor& new_ids, const torch::Tensor& positions) {
    auto h = model->hidden_states(model->embed(new_ids), cache.get(), positions, padded ? mask : torch::Tensor());
    return model->logits(h.select(1, h.size(1) - 1)).to(torch::kCPU, torch::kFloat32);
  };
  auto logits = last_logits(ids, make_positions(mask, P));
  // The key mask grows one column per step: a view of one preallocated buffer, not a cat.
  auto mask_buf = torch::ones({B, P + steps}, long_opts.device(dev));
  mask_buf.narrow(1, 0, P).copy_(mask);
  std::vector<int64_t> next(static_cast<size_t>(B), 0), positions(static_cast<size_t>(B));
  const int64_t last_pos = cfg.context_length() - 1;
  for (int64_t step = 0; step < steps; ++step) {
    bool all_done = true;
    for (int64_t b = 0; b < B; ++b) {
      if (done[size_t(b)]) continue;
      const int64_t tok = samplers[size_t(b)].sample(logits[b]);
      next[size_t(b)] = tok;
      if (std::find(opts.stop_tokens.begin(), opts.stop_tokens.end(), tok) != opts.stop_tokens.end()) {
        done[size_t(b)] = true;
        continue;
      }
      out[size_t(b)].push_back(tok);
      if (on_token) on_token(size_t(b), tok);
      if (++next_pos[size_t(b)] >= max_len) done[size_t(b)] = true;
      all_done = all_done && done[size_t(b)];
    }
    if (all_done || step + 1 == steps) break;
    auto next_ids = torch::tensor(next, long_opts).view({B, 1}).to(dev);
    mask = mask_buf.narrow(1, 0, P + step + 1);
    if (cache) {
      // Each row's position is its real tokens so far; finished rows keep
      // stepping in lockstep, clamped inside the context.
      for (int64_t b = 0; b < B; ++b) positions[size_t(b)] = std::min(next_pos[size_t(b)] - 1, last_pos);
      logits = last_logits(next_ids, torch::tensor(positions, long_opts).view({B, 1}).to(dev));
    } else {
      ids = torch::cat({ids, next_ids}, 1);
      logits = last_logits(ids, make_positions(mask, ids.size(1)).clamp_max(last_pos));
    }
  }
  return out;
}

}  // namespace userllm::llm
