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

torch::Tensor DecodeBatch::add(const Prefill& p) {
  if (full()) fail("decode batch: no free row");
  torch::NoGradGuard ng;
  const auto dev = model_->device();
  const int64_t P = p.ids.defined() ? p.ids.size(1) : p.embeds.size(1);
  if (P < 1 || P >= context_length() || P >= o_.capacity)
    fail("decode batch: a prompt of " + std::to_string(P) + " positions leaves no room in a context of " +
         std::to_string(context_length()));
  torch::Tensor mask = p.key_mask.defined() ? p.key_mask.to(dev, torch::kLong).view({1, P})
                                            : torch::ones({1, P}, torch::TensorOptions(torch::kLong).device(dev));
  // Cross-attention: this user's keys and values, computed once for the request.
  std::vector<bridge::CrossAttentionImpl::KeyValue> kv;
  torch::Tensor cmask;
  if (cross_) {
    torch::Tensor ctx = p.context, cm = p.context_mask;
    if (!ctx.defined()) {  // no user: one vector that nothing may attend to
      ctx = torch::zeros({1, 1, model_->config().hidden_size}, torch::TensorOptions().device(dev));
      cm = torch::zeros({1, 1}, torch::TensorOptions(torch::kBool).device(dev));
    }
    if (!cm.defined()) cm = torch::ones({1, ctx.size(1)}, torch::TensorOptions(torch::kBool).device(dev));
    if (ctx.size(1) > context_mask_.size(1))
      fail("decode batch: " + std::to_string(ctx.size(1)) + " user vectors, more than the " +
           std::to_string(context_mask_.size(1)) + " a row holds");
    kv = cross_->key_values(ctx);
    cmask = cm.to(torch::kBool);
    cross_->set_key_values(kv, cmask);
  }
  llm::KVCache alone(model_->config(), 1, P, dev);
  auto positions = llm::make_positions(mask, P);
  torch::Tensor logits = p.ids.defined() ? model_->forward(p.ids.to(dev), &alone, positions, mask)
                                         : model_->forward_embeddings(p.embeds.to(dev), &alone, positions, mask);

  // Room: the prompt right-aligned at the current slot, and the slots it will still need.
  if (n_ == 0) len_ = 0;
  if (len_ < P) shift(P - len_);
  const int64_t r = n_++;
  for (size_t l = 0; l < cache_.k.size(); ++l) {
    cache_.k[l][r].narrow(1, 0, len_).zero_();
    cache_.v[l][r].narrow(1, 0, len_).zero_();
    slots(cache_.k[l][r].unsqueeze(0), len_ - P, P).copy_(alone.k[l]);
    slots(cache_.v[l][r].unsqueeze(0), len_ - P, P).copy_(alone.v[l]);
  }
  key_mask_[r].zero_();
  key_mask_[r].narrow(0, len_ - P, P).copy_(mask[0]);
  real_[size_t(r)] = mask.sum().item<int64_t>();
  start_[size_t(r)] = len_ - P;
  if (cross_) {
    if (ck_.empty())
      for (const auto& x : kv) {
        ck_.push_back(torch::zeros({o_.max_rows, x.k.size(1), context_mask_.size(1), x.k.size(3)}, x.k.options()));
        cv_.push_back(torch::zeros_like(ck_.back()));
      }
    const int64_t S = kv[0].k.size(2);
    for (size_t b = 0; b < kv.size(); ++b) {
      ck_[b][r].zero_(), cv_[b][r].zero_();
      ck_[b][r].narrow(1, 0, S).copy_(kv[b].k[0]);
      cv_[b][r].narrow(1, 0, S).copy_(kv[b].v[0]);
    }
    context_mask_[r].zero_();
    context_mask_[r].narrow(0, 0, S).copy_(cmask[0]);
  }
  return logits[0][P - 1];
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
