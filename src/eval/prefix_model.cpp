#include "eval/prefix_model.h"

#include "common/error.h"

namespace userllm::eval {

std::vector<double> PrefixModel::score(const std::vector<std::vector<int64_t>>& seqs) {
  std::vector<double> out;
  for (const auto& s : seqs) {
    if (s.empty()) fail("cannot score an empty sequence");
    for (int64_t t : s)
      if (t < 0 || t >= vocab_size()) fail("score: token " + std::to_string(t) + " out of the vocabulary");
    double sum = first_logprobs()[s[0]].item<double>();
    reset();
    for (size_t t = 1; t < s.size(); ++t) sum += step({0}, {s[t - 1]})[0][s[t]].item<double>();
    out.push_back(sum);
  }
  return out;
}

static torch::Tensor long_tensor(const std::vector<int64_t>& v, torch::Device dev) {
  return torch::tensor(v, torch::kLong).to(dev);
}

LlamaPrefix::LlamaPrefix(llm::LlamaForCausalLM model, llm::KVCache cache, torch::Tensor mask, RowsHook hook)
    : model_(std::move(model)), prompt_(std::move(cache)), mask_(std::move(mask)), hook_(std::move(hook)),
      work_(prompt_) {}

LlamaPrefix LlamaPrefix::from_ids(llm::LlamaForCausalLM model, const std::vector<int64_t>& ids, int64_t extra,
                                  RowsHook hook) {
  if (ids.empty()) fail("the prompt is empty");
  torch::NoGradGuard ng;
  auto t = long_tensor(ids, model->device()).unsqueeze(0);
  return from_embeddings(model, model->embed(t), {}, extra, std::move(hook));
}

LlamaPrefix LlamaPrefix::from_embeddings(llm::LlamaForCausalLM model, const torch::Tensor& embeds,
                                         const torch::Tensor& key_mask, int64_t extra, RowsHook hook) {
  if (embeds.dim() != 3 || embeds.size(0) != 1 || embeds.size(1) == 0)
    fail("prefix embeddings must be [1, P, D] with P > 0");
  if (extra < 1) fail("a prefix needs room for at least one more token");
  const int64_t P = embeds.size(1), ctx = model->config().context_length();
  if (P + extra > ctx)
    fail("prompt of " + std::to_string(P) + " positions plus " + std::to_string(extra) +
         " answer tokens exceeds the model's context of " + std::to_string(ctx));
  torch::NoGradGuard ng;
  auto dev = model->device();
  torch::Tensor mask = key_mask.defined() ? key_mask.to(dev, torch::kLong).view({1, P})
                                          : torch::ones({1, P}, torch::TensorOptions(torch::kLong).device(dev));
  if (mask.sum().item<int64_t>() == 0) fail("the prefix has no real position");
  llm::KVCache cache(model->config(), 1, P + extra, dev, embeds.scalar_type());
  if (hook) hook(1);
  auto logits = model->forward_embeddings(embeds, &cache, llm::make_positions(mask, P), mask);
  LlamaPrefix p(model, std::move(cache), mask, std::move(hook));
  p.first_ = torch::log_softmax(logits[0][P - 1].to(torch::kFloat64), -1).cpu();
  return p;
}

int64_t LlamaPrefix::vocab_size() const { return model_->config().vocab_size; }

llm::KVCache LlamaPrefix::expand_prompt(int64_t rows) const {
  llm::KVCache c = prompt_;
  for (size_t l = 0; l < c.k.size(); ++l) {
    c.k[l] = prompt_.k[l].expand({rows, -1, -1, -1}).contiguous();
    c.v[l] = prompt_.v[l].expand({rows, -1, -1, -1}).contiguous();
  }
  return c;
}

torch::Tensor LlamaPrefix::step(const std::vector<int64_t>& parents, const std::vector<int64_t>& tokens) {
  const int64_t R = int64_t(parents.size());
  if (R == 0 || tokens.size() != parents.size()) fail("step: need one token per row, and at least one row");
  for (int64_t p : parents)
    if (p < 0 || p >= std::max<int64_t>(rows_, 1)) fail("step: parent row " + std::to_string(p) + " out of range");
  for (int64_t t : tokens)
    if (t < 0 || t >= vocab_size()) fail("step: token " + std::to_string(t) + " out of the vocabulary");
  torch::NoGradGuard ng;
  auto dev = model_->device();
  auto idx = long_tensor(parents, dev);
  if (rows_ == 0) {
    work_ = prompt_;
    work_mask_ = mask_;
  }
  if (work_.length + 1 > work_.capacity()) fail("step: the answer is longer than the room left after the prompt");
  // index_select copies, so the prompt's own cache is never written to.
  for (size_t l = 0; l < work_.k.size(); ++l) {
    work_.k[l] = work_.k[l].index_select(0, idx);
    work_.v[l] = work_.v[l].index_select(0, idx);
  }
  work_mask_ = torch::cat({work_mask_.index_select(0, idx), torch::ones({R, 1}, work_mask_.options())}, 1);
  if (hook_) hook_(R);
  auto logits = model_->forward(long_tensor(tokens, dev).unsqueeze(1), &work_, llm::make_positions(work_mask_, 1),
                                work_mask_);
  rows_ = R;
  return torch::log_softmax(logits.select(1, 0).to(torch::kFloat64), -1);
}

std::vector<double> LlamaPrefix::score(const std::vector<std::vector<int64_t>>& seqs) {
  std::vector<double> out(seqs.size());
  torch::NoGradGuard ng;
  auto dev = model_->device();
  for (size_t b0 = 0; b0 < seqs.size(); b0 += size_t(std::max<int64_t>(max_batch, 1))) {
    size_t b1 = std::min(seqs.size(), b0 + size_t(std::max<int64_t>(max_batch, 1)));
    const int64_t R = int64_t(b1 - b0);
    int64_t T = 0;
    for (size_t i = b0; i < b1; ++i) {
      if (seqs[i].empty()) fail("cannot score an empty sequence");
      for (int64_t t : seqs[i])
        if (t < 0 || t >= vocab_size()) fail("score: token " + std::to_string(t) + " out of the vocabulary");
      T = std::max<int64_t>(T, int64_t(seqs[i].size()) - 1);
    }
    for (size_t i = b0; i < b1; ++i) out[i] = first_[seqs[i][0]].item<double>();
    if (T == 0) continue;
    if (prompt_.length + T > prompt_.capacity()) fail("score: a sequence is longer than the room left after the prompt");
    // Every sequence but its last token, right-padded: causal attention keeps
    // the padding from touching the real positions, whose log-probs are all we read.
    std::vector<int64_t> flat(size_t(R * T), 0);
    for (int64_t r = 0; r < R; ++r)
      for (size_t t = 0; t + 1 < seqs[b0 + r].size(); ++t) flat[size_t(r * T) + t] = seqs[b0 + r][t];
    llm::KVCache cache = expand_prompt(R);
    auto mask = torch::cat({mask_.expand({R, -1}), torch::ones({R, T}, mask_.options())}, 1);
    if (hook_) hook_(R);
    auto logits = model_->forward(long_tensor(flat, dev).view({R, T}), &cache, llm::make_positions(mask, T), mask);
    auto lp = torch::log_softmax(logits.to(torch::kFloat64), -1).cpu();
    auto acc = lp.accessor<double, 3>();
    for (int64_t r = 0; r < R; ++r)
      for (size_t t = 1; t < seqs[b0 + r].size(); ++t) out[b0 + r] += acc[r][int64_t(t) - 1][seqs[b0 + r][t]];
  }
  return out;
}

}  // namespace userllm::eval
