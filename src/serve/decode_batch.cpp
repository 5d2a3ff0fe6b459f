#include "serve/decode_batch.h"

#include <algorithm>

#include "common/error.h"

namespace userllm::serve {

namespace {
torch::Tensor slots(const torch::Tensor& t, int64_t begin, int64_t n) { return t.narrow(2, begin, n); }
}  // namespace

DecodeBatch::DecodeBatch(llm::LlamaForCausalLM model, bridge::CrossAttentionStack cross, const DecodeBatchOptions& o)
    : model_(std::move(model)), cross_(std::move(cross)), o_(o) {
  if (o_.max_rows < 1) fail("decode batch: max_rows must be at least 1");
  const int64_t ctx = model_->config().context_length();
  if (o_.capacity == 0) o_.capacity = 2 * ctx;
  if (o_.capacity < 2) fail("decode batch: capacity must be at least 2 slots");
  const auto dev = model_->device();
  cache_ = llm::KVCache(model_->config(), o_.max_rows, o_.capacity, dev);
  key_mask_ = torch::zeros({o_.max_rows, o_.capacity}, torch::TensorOptions(torch::kLong).device(dev));
  if (cross_) context_mask_ = torch::zeros({o_.max_rows, std::max<int64_t>(o_.context_vectors, 1)},
                                           torch::TensorOptions(torch::kBool).device(dev));
  real_.assign(size_t(o_.max_rows), 0);
  start_.assign(size_t(o_.max_rows), 0);
}

void DecodeBatch::shift(int64_t by) {
  if (by == 0) return;
  // Overlapping ranges: copy through a temporary.
  const int64_t from = by > 0 ? 0 : -by, to = by > 0 ? by : 0, n = len_ - from;
  for (size_t l = 0; l < cache_.k.size(); ++l) {
    auto k = cache_.k[l].narrow(0, 0, n_), v = cache_.v[l].narrow(0, 0, n_);
    slots(k, to, n).copy_(slots(k, from, n).clone());
    slots(v, to, n).copy_(slots(v, from, n).clone());
  }
  auto m = key_mask_.narrow(0, 0, n_);
  m.narrow(1, to, n).copy_(m.narrow(1, from, n).clone());
  if (by > 0) m.narrow(1, 0, by).zero_();
  else m.narrow(1, len_ + by, -by).zero_();
  len_ += by;
  for (int64_t i = 0; i < n_; ++i) start_[size_t(i)] += by;
}

torch::Tensor DecodeBatch::add(const Prefill& p) { return add_many({p})[0]; }

std::vector<torch::Tensor> DecodeBatch::add_many(const std::vector<Prefill>& ps) {
  const int64_t k = int64_t(ps.size());
  if (k == 0) return {};
  if (n_ + k > o_.max_rows) fail("decode batch: no free row");
  torch::NoGradGuard ng;
  const auto dev = model_->device();
  const auto longs = torch::TensorOptions(torch::kLong).device(dev);
  const auto bools = torch::TensorOptions(torch::kBool).device(dev);
  // The prompts right-aligned in one left-padded batch [k, P] (their own padding kept).
  std::vector<torch::Tensor> embeds, masks;
  int64_t P = 0;
  for (const Prefill& p : ps) {
    const int64_t n = p.ids.defined() ? p.ids.size(1) : p.embeds.size(1);
    if (n < 1 || n >= context_length() || n >= o_.capacity)
      fail("decode batch: a prompt of " + std::to_string(n) + " positions leaves no room in a context of " +
           std::to_string(context_length()));
    embeds.push_back(p.ids.defined() ? model_->embed(p.ids.to(dev)) : p.embeds.to(dev));
    masks.push_back(p.key_mask.defined() ? p.key_mask.to(dev, torch::kLong).view({1, n}) : torch::ones({1, n}, longs));
    P = std::max(P, n);
  }
  auto x = torch::zeros({k, P, embeds[0].size(2)}, embeds[0].options());
  auto mask = torch::zeros({k, P}, longs);
  for (int64_t i = 0; i < k; ++i) {
    const int64_t n = embeds[size_t(i)].size(1);
    x[i].narrow(0, P - n, n).copy_(embeds[size_t(i)][0]);
    mask[i].narrow(0, P - n, n).copy_(masks[size_t(i)][0]);
  }
  // Cross-attention: each user's keys and values, computed once for the request.
  std::vector<std::vector<bridge::CrossAttentionImpl::KeyValue>> kv;  // [request][block]
  std::vector<torch::Tensor> cmask;
  if (cross_) {
    std::vector<bridge::CrossAttentionImpl::KeyValue> padded;
    int64_t S = 1;
    for (const Prefill& p : ps) {
      torch::Tensor ctx = p.context, cm = p.context_mask;
      if (!ctx.defined()) {  // no user: one vector that nothing may attend to
        ctx = torch::zeros({1, 1, model_->config().hidden_size}, torch::TensorOptions().device(dev));
        cm = torch::zeros({1, 1}, bools);
      }
      if (!cm.defined()) cm = torch::ones({1, ctx.size(1)}, bools);
      if (ctx.size(1) > context_mask_.size(1))
        fail("decode batch: " + std::to_string(ctx.size(1)) + " user vectors, more than the " +
             std::to_string(context_mask_.size(1)) + " a row holds");
      kv.push_back(cross_->key_values(ctx.to(dev)));
      cmask.push_back(cm.to(dev, torch::kBool));
      S = std::max(S, ctx.size(1));
    }
    auto cm = torch::zeros({k, S}, bools);
    for (size_t b = 0; b < kv[0].size(); ++b) {
      const auto& first = kv[0][b].k;
      auto kk = torch::zeros({k, first.size(1), S, first.size(3)}, first.options()), vv = torch::zeros_like(kk);
      for (int64_t i = 0; i < k; ++i) {
        const int64_t s = kv[size_t(i)][b].k.size(2);
        kk[i].narrow(1, 0, s).copy_(kv[size_t(i)][b].k[0]);
        vv[i].narrow(1, 0, s).copy_(kv[size_t(i)][b].v[0]);
        if (b == 0) cm[i].narrow(0, 0, s).copy_(cmask[size_t(i)][0]);
      }
      padded.push_back({kk, vv});
    }
    cross_->set_key_values(std::move(padded), cm);
  }
  llm::KVCache alone(model_->config(), k, P, dev);
  torch::Tensor logits = model_->forward_embeddings(x, &alone, llm::make_positions(mask, P), mask);

  // Room: the prompts right-aligned at the current slot.
  if (n_ == 0) len_ = 0;
  if (len_ < P) shift(P - len_);
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < k; ++i) {
    const int64_t r = n_++;
    for (size_t l = 0; l < cache_.k.size(); ++l) {
      cache_.k[l][r].narrow(1, 0, len_).zero_();
      cache_.v[l][r].narrow(1, 0, len_).zero_();
      cache_.k[l][r].narrow(1, len_ - P, P).copy_(alone.k[l][i]);
      cache_.v[l][r].narrow(1, len_ - P, P).copy_(alone.v[l][i]);
    }
    key_mask_[r].zero_();
    key_mask_[r].narrow(0, len_ - P, P).copy_(mask[i]);
    real_[size_t(r)] = mask[i].sum().item<int64_t>();
    start_[size_t(r)] = len_ - embeds[size_t(i)].size(1);
    if (cross_) {
      if (ck_.empty())
        for (const auto& b : kv[0]) {
          ck_.push_back(torch::zeros({o_.max_rows, b.k.size(1), context_mask_.size(1), b.k.size(3)}, b.k.options()));
          cv_.push_back(torch::zeros_like(ck_.back()));
        }
      const int64_t S = kv[size_t(i)][0].k.size(2);
      for (size_t b = 0; b < ck_.size(); ++b) {
        ck_[b][r].zero_(), cv_[b][r].zero_();
        ck_[b][r].narrow(1, 0, S).copy_(kv[size_t(i)][b].k[0]);
        cv_[b][r].narrow(1, 0, S).copy_(kv[size_t(i)][b].v[0]);
      }
      context_mask_[r].zero_();
      context_mask_[r].narrow(0, 0, S).copy_(cmask[size_t(i)][0]);
    }
    out.push_back(logits[i][P - 1]);
  }
  return out;
}

void DecodeBatch::install_context() {
  if (!cross_) return;
  std::vector<bridge::CrossAttentionImpl::KeyValue> kv;
  for (size_t b = 0; b < ck_.size(); ++b) kv.push_back({ck_[b].narrow(0, 0, n_), cv_[b].narrow(0, 0, n_)});
  cross_->set_key_values(std::move(kv), context_mask_.narrow(0, 0, n_));
}

torch::Tensor DecodeBatch::step(const std::vector<int64_t>& tokens) {
  if (int64_t(tokens.size()) != n_ || n_ == 0)
    fail("decode batch: " + std::to_string(tokens.size()) + " tokens for " + std::to_string(n_) + " rows");
  torch::NoGradGuard ng;
  // Every row attends over slots [0, len_): drop the padding all rows share once it is as long
  // as what they use (or the slots run out), so a long-running batch stays as cheap as its rows.
  int64_t common = len_;
  for (int64_t i = 0; i < n_; ++i) common = std::min(common, start_[size_t(i)]);
  if (len_ == o_.capacity && common == 0) fail("decode batch: a row has filled every slot");
  if (common > 0 && (len_ == o_.capacity || common >= len_ - common)) shift(-common);
  const auto dev = model_->device();
  auto ids = torch::tensor(tokens, torch::kLong).view({n_, 1}).to(dev);
  auto positions = torch::tensor(std::vector<int64_t>(real_.begin(), real_.begin() + n_), torch::kLong).view({n_, 1}).to(dev);
  key_mask_.narrow(0, 0, n_).select(1, len_).fill_(1);
  llm::KVCache view;
  for (size_t l = 0; l < cache_.k.size(); ++l) {
    view.k.push_back(cache_.k[l].narrow(0, 0, n_));
    view.v.push_back(cache_.v[l].narrow(0, 0, n_));
  }
  view.length = len_;
  install_context();
  auto logits = model_->forward(ids, &view, positions, key_mask_.narrow(0, 0, n_).narrow(1, 0, len_ + 1));
  ++len_;
  for (int64_t i = 0; i < n_; ++i) ++real_[size_t(i)];
  return logits.select(1, 0);
}

void DecodeBatch::remove(int64_t i) {
  if (i < 0 || i >= n_) fail("decode batch: no row " + std::to_string(i));
  const int64_t last = n_ - 1;
  if (i != last) {
    for (size_t l = 0; l < cache_.k.size(); ++l) {  // only the slots in use
      cache_.k[l][i].narrow(1, 0, len_).copy_(cache_.k[l][last].narrow(1, 0, len_));
      cache_.v[l][i].narrow(1, 0, len_).copy_(cache_.v[l][last].narrow(1, 0, len_));
    }
    key_mask_[i].copy_(key_mask_[last]);
    for (size_t b = 0; b < ck_.size(); ++b) ck_[b][i].copy_(ck_[b][last]), cv_[b][i].copy_(cv_[b][last]);
    if (cross_) context_mask_[i].copy_(context_mask_[last]);
    real_[size_t(i)] = real_[size_t(last)];
    start_[size_t(i)] = start_[size_t(last)];
  }
  key_mask_[last].zero_();
  n_ = last;
  if (n_ == 0) len_ = 0;
}

}  // namespace userllm::serve
