#include "encoder/evaluate.h"

#include <cmath>
#include <random>
#include <tuple>

#include "common/error.h"
#include "common/progress.h"
#include "dist/world.h"
#include "encoder/batch.h"

namespace userllm::encoder {

void RankMetrics::add(int64_t rank) {
  ++users;
  recall1 += rank < 1;
  recall5 += rank < 5;
  recall10 += rank < 10;
  if (rank < 10) ndcg10 += 1.0 / std::log2(static_cast<double>(rank) + 2.0);
}

void RankMetrics::finish() {
  if (users == 0) return;
  recall1 /= users;
  recall5 /= users;
  recall10 /= users;
  ndcg10 /= users;
}

uint64_t target_event(const Events& ev, uint32_t u, EvalSplit s) {
  const uint64_t t = s == EvalSplit::kTest ? ev.validation_end[u] : ev.train_end[u];
  const uint64_t end = s == EvalSplit::kTest ? ev.offsets[u + 1] : ev.validation_end[u];
  return t < end && t > ev.offsets[u] ? t : UINT64_MAX;  // needs one event of history
}

namespace {

// The candidates a target is ranked against: the whole catalogue, or the target
// plus `negatives` items drawn uniformly (never the target, PAD or OOV).
std::vector<int64_t> sample_negatives(int64_t vocab, int64_t target, int n, std::mt19937_64& rng) {
  std::uniform_int_distribution<int64_t> pick(2, vocab - 1);
  std::vector<int64_t> out;
  while (static_cast<int>(out.size()) < n) {
    int64_t j = pick(rng);
    if (j != target) out.push_back(j);
  }
  return out;
}

template <typename T>
int64_t rank_of(const T* scores, int64_t vocab, int64_t target, const std::vector<int64_t>* negatives) {
  const T s = scores[target];
  int64_t rank = 0;
  if (negatives) {
    for (int64_t j : *negatives) rank += scores[j] > s;
  } else {
    for (int64_t j = 2; j < vocab; ++j) rank += scores[j] > s;
  }
  return rank;
}

}  // namespace

EvalResult evaluate(UserEncoder& model, const Events& ev, const EvalOptions& o, const torch::Device& device) {
  const int item = ev.field_index("item");
  if (item < 0) fail("evaluate: the data has no 'item' field");
  const int64_t V = ev.field_vocab[item];
  if (V < 3) fail("evaluate: the item vocabulary is empty");
  if (o.negatives < 0 || o.negatives >= V - 2)
    fail("evaluate: --negatives must be in 0.." + std::to_string(V - 3) + " for this catalogue");

  // Popularity: train-event counts; ties broken towards the lower id so ranks are strict.
  std::vector<double> pop(V, 0.0);
  {
    std::vector<uint64_t> counts(V, 0);
    for (uint32_t u = 0; u < ev.num_users(); ++u)
      for (uint64_t e = ev.offsets[u]; e < ev.train_end[u]; ++e) ++counts[ev.event(e)[item]];
    for (int64_t j = 0; j < V; ++j)
      pop[j] = static_cast<double>(counts[j]) - static_cast<double>(j) / static_cast<double>(V);
  }

  std::vector<Span> spans;
  std::vector<int64_t> targets;
  EvalResult r;
  for (uint32_t u = 0; u < ev.num_users(); ++u) {
    uint64_t t = target_event(ev, u, o.split);
    if (t == UINT64_MAX) continue;
    const int64_t target = ev.event(t)[item];
    if (target < 2) {
      ++r.skipped_oov;
      continue;
    }
    spans.push_back(history_before(ev, u, t, model->options().max_len));
    targets.push_back(target);
    if (o.max_users > 0 && static_cast<int64_t>(spans.size()) >= o.max_users) break;
  }

  const bool was_training = model->is_training();
  model->eval();
  torch::NoGradGuard no_grad;
  std::mt19937_64 rng(o.seed);
  dist::World& world = dist::World::get();
  const bool sharded = o.sharded && world.distributed();
  if (sharded && o.negatives > 0) fail("evaluate: a sharded evaluation cannot sample negatives");
  size_t begin = 0, end = spans.size();
  if (sharded) std::tie(begin, end) = world.shard(static_cast<int64_t>(spans.size()));
  std::unique_ptr<Progress> bar;
  if (o.progress) bar = std::make_unique<Progress>("eval", end - begin, "users");
  for (size_t b0 = begin; b0 < end; b0 += o.batch_size) {
    std::vector<Span> chunk(spans.begin() + b0, spans.begin() + std::min(end, b0 + o.batch_size));
    auto batch = make_batch(ev, chunk, device);
    auto user = gather_last(model(batch.tokens, batch.valid), batch.valid);
    auto scores = model->logits(user, item).to(torch::kCPU, torch::kFloat).contiguous();
    for (size_t i = 0; i < chunk.size(); ++i) {
      const int64_t target = targets[b0 + i];
      std::vector<int64_t> negs;
      if (o.negatives > 0) negs = sample_negatives(V, target, o.negatives, rng);
      const auto* neg_ptr = o.negatives > 0 ? &negs : nullptr;
      r.model.add(rank_of(scores[i].data_ptr<float>(), V, target, neg_ptr));
      r.popularity.add(rank_of(pop.data(), V, target, neg_ptr));
    }
    if (bar) bar->add(chunk.size());
  }
  if (was_training) model->train();
  if (sharded) {
    std::vector<RankMetrics*> all{&r.model, &r.popularity};
    std::vector<double> sums;
    for (auto* m : all) sums.insert(sums.end(), {m->recall1, m->recall5, m->recall10, m->ndcg10, double(m->users)});
    sums = world.sum(sums, "the validation metrics");
    for (size_t i = 0; i < all.size(); ++i) {
      const double* x = sums.data() + 5 * i;
      *all[i] = RankMetrics{x[0], x[1], x[2], x[3], static_cast<int64_t>(x[4])};
    }
  }
  r.model.finish();
  r.popularity.finish();
  return r;
}

}  // namespace userllm::encoder
