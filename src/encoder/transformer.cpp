#include "encoder/transformer.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace userllm::encoder {

namespace nn = torch::nn;
namespace F = torch::nn::functional;
using torch::indexing::Slice;

CausalSelfAttentionImpl::CausalSelfAttentionImpl(int dim, int heads, double dropout) : heads_(heads) {
  qkv_ = register_module("qkv", nn::Linear(dim, 3 * dim));
  out_ = register_module("out", nn::Linear(dim, dim));
  drop_ = register_module("drop", nn::Dropout(dropout));
}

torch::Tensor CausalSelfAttentionImpl::attend(const torch::Tensor& q, const torch::Tensor& k,
                                              const torch::Tensor& v, const torch::Tensor& allowed) {
  auto scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(q.size(-1)));
  if (allowed.defined()) scores = scores.masked_fill(allowed.logical_not(), -INFINITY);
  auto p = drop_(torch::softmax(scores, -1));
  auto y = torch::matmul(p, v);  // [B, H, Tq, dh]
  return y.transpose(1, 2).reshape({q.size(0), q.size(2), -1});
}

namespace {

// Which keys [k0, k0 + nk) the queries [q0, q0 + nq) may attend: causal, within
// the window, never a padding key, and always itself (so padding rows stay
// finite). [B, 1, nq, nk] bool.
torch::Tensor allowed_keys(int64_t q0, int64_t nq, int64_t k0, int64_t nk, const torch::Tensor& valid,
                           int64_t window) {
  auto opts = torch::TensorOptions().dtype(torch::kLong).device(valid.device());
  auto qi = torch::arange(q0, q0 + nq, opts).unsqueeze(1), kj = torch::arange(k0, k0 + nk, opts).unsqueeze(0);
  auto band = kj.le(qi).logical_and(qi.sub(kj).lt(window));
  auto allowed = band.unsqueeze(0).logical_and(valid.narrow(1, k0, nk).unsqueeze(1)).logical_or(kj.eq(qi).unsqueeze(0));
  return allowed.unsqueeze(1);
}

}  // namespace

torch::Tensor CausalSelfAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& valid, int64_t window) {
  const auto B = x.size(0), T = x.size(1);
  auto qkv = qkv_(x).view({B, T, 3, heads_, -1}).permute({2, 0, 3, 1, 4});  // [3, B, H, T, dh]
  auto q = qkv[0], k = qkv[1], v = qkv[2];
  if (T <= 2 * window) return drop_(out_(attend(q, k, v, allowed_keys(0, T, 0, T, valid, window))));
  std::vector<torch::Tensor> blocks;
  for (int64_t q0 = 0; q0 < T; q0 += window) {
    const int64_t nq = std::min(window, T - q0), k0 = std::max<int64_t>(0, q0 - window + 1), nk = q0 + nq - k0;
    blocks.push_back(attend(q.narrow(2, q0, nq), k.narrow(2, k0, nk), v.narrow(2, k0, nk),
                            allowed_keys(q0, nq, k0, nk, valid, window)));
  }
  return drop_(out_(torch::cat(blocks, 1)));
}

torch::Tensor CausalSelfAttentionImpl::step(const torch::Tensor& x, torch::Tensor& k, torch::Tensor& v,
                                            int64_t window) {
  const auto B = x.size(0);
  auto qkv = qkv_(x).view({B, 1, 3, heads_, -1}).permute({2, 0, 3, 1, 4});
  k = k.defined() ? torch::cat({k, qkv[1]}, 2) : qkv[1];
  v = v.defined() ? torch::cat({v, qkv[2]}, 2) : qkv[2];
  if (k.size(2) > window) {  // keep the last `window` events
    k = k.narrow(2, k.size(2) - window, window).contiguous();
    v = v.narrow(2, v.size(2) - window, window).contiguous();
  }
  return drop_(out_(attend(qkv[0], k, v, torch::Tensor())));
}

BlockImpl::BlockImpl(const TransformerOptions& o) {
  ln1_ = register_module("ln1", nn::LayerNorm(nn::LayerNormOptions({o.dim})));
  attn_ = register_module("attn", CausalSelfAttention(o.dim, o.heads, o.dropout));
  ln2_ = register_module("ln2", nn::LayerNorm(nn::LayerNormOptions({o.dim})));
  fc1_ = register_module("fc1", nn::Linear(o.dim, o.ffn_mult * o.dim));
  fc2_ = register_module("fc2", nn::Linear(o.ffn_mult * o.dim, o.dim));
  drop_ = register_module("drop", nn::Dropout(o.dropout));
}

torch::Tensor BlockImpl::mlp(const torch::Tensor& x) { return drop_(fc2_(F::gelu(fc1_(x)))); }

torch::Tensor BlockImpl::forward(const torch::Tensor& x, const torch::Tensor& valid, int64_t window) {
  auto h = x + attn_(ln1_(x), valid, window);
  return h + mlp(ln2_(h));
}

torch::Tensor BlockImpl::step(const torch::Tensor& x, torch::Tensor& k, torch::Tensor& v, int64_t window) {
  auto h = x + attn_->step(ln1_(x), k, v, window);
  return h + mlp(ln2_(h));
}

CausalTransformerImpl::CausalTransformerImpl(const TransformerOptions& o) : o_(o) {
  pos_ = register_module("pos", nn::Embedding(o.max_len, o.dim));
  nn::init::normal_(pos_->weight, 0.0, 0.02);
  blocks_ = register_module("blocks", nn::ModuleList());
  for (int i = 0; i < o.layers; ++i) blocks_->push_back(Block(o));
  ln_f_ = register_module("ln_f", nn::LayerNorm(nn::LayerNormOptions({o.dim})));
  drop_ = register_module("drop", nn::Dropout(o.dropout));
}

torch::Tensor CausalTransformerImpl::positions(int64_t begin, int64_t count, const torch::Device& device) {
  auto ids = torch::arange(begin, begin + count, torch::TensorOptions().dtype(torch::kLong).device(device));
  return pos_(ids.clamp_max(o_.max_len - 1));
}

torch::Tensor CausalTransformerImpl::forward(const torch::Tensor& x, const torch::Tensor& valid) {
  const auto T = x.size(1);
  auto h = drop_(x + positions(0, T, x.device()));
  for (const auto& b : *blocks_) h = b->as<Block>()->forward(h, valid, o_.max_len);
  return ln_f_(h);
}

torch::Tensor CausalTransformerImpl::step(const torch::Tensor& x, KVCache& cache) {
  if (cache.k.empty()) {
    cache.k.resize(blocks_->size());
    cache.v.resize(blocks_->size());
  }
  auto h = drop_(x + positions(cache.length, 1, x.device())).unsqueeze(1);  // [B, 1, D]
  for (size_t i = 0; i < blocks_->size(); ++i)
    h = blocks_[i]->as<Block>()->step(h, cache.k[i], cache.v[i], o_.max_len);
  ++cache.length;
  return ln_f_(h).squeeze(1);
}

}  // namespace userllm::encoder
