#include "dist/gradient_reducer.h"

#include <map>
#include <mutex>

#include "common/error.h"

namespace userllm::dist {

struct GradientReducer::Impl {
  struct Slot {
    size_t bucket = 0;
    int64_t offset = 0;  // of the gradient in the bucket
    int64_t flag = 0;    // of its "used on this rank" count, after the bucket's gradients
    bool ready = false;
  };
  struct Bucket {
    torch::Tensor flat;
    size_t params = 0, ready = 0;
    bool started = false;
    Pending pending;
  };

  World& world;
  std::vector<torch::Tensor> params;
  std::vector<Slot> slots;
  std::vector<Bucket> buckets;
  std::vector<unsigned> hooks;
  size_t next = 0;  // the first bucket not started
  std::mutex mutex;

  Impl(World& w, std::vector<torch::Tensor> ps, size_t bucket_bytes) : world(w), params(std::move(ps)) {
    slots.resize(params.size());
    // Reverse order, one dtype per bucket; a bucket closes once it holds bucket_bytes.
    std::map<at::ScalarType, size_t> open;
    std::vector<std::vector<size_t>> members;
    for (size_t k = params.size(); k-- > 0;) {
      const auto& p = params[k];
      auto it = open.find(p.scalar_type());
      if (it == open.end()) {
        it = open.emplace(p.scalar_type(), members.size()).first;
        members.emplace_back();
      }
      members[it->second].push_back(k);
      int64_t bytes = 0;
      for (size_t m : members[it->second]) bytes += params[m].numel() * params[m].element_size();
      if (size_t(bytes) >= bucket_bytes) open.erase(it);
    }
    buckets.resize(members.size());
    for (size_t b = 0; b < members.size(); ++b) {
      int64_t n = 0;
      for (size_t k : members[b]) {
        slots[k].bucket = b;
        slots[k].offset = n;
        n += params[k].numel();
      }
      for (size_t j = 0; j < members[b].size(); ++j) slots[members[b][j]].flag = n + int64_t(j);
      buckets[b].params = members[b].size();
      buckets[b].flat = torch::zeros({n + int64_t(members[b].size())},
                                     params[members[b][0]].options().requires_grad(false));
    }
  }

  torch::Tensor grad_view(size_t k) {
    return buckets[slots[k].bucket].flat.narrow(0, slots[k].offset, params[k].numel());
  }

  void start_ready() {
    while (next < buckets.size() && buckets[next].ready == buckets[next].params) start(next++);
  }

  void start(size_t b) {
    buckets[b].started = true;
    buckets[b].pending = world.start_sum(buckets[b].flat, "the gradient sum (bucket " + std::to_string(b) + ")");
  }

  void on_grad(size_t k, const torch::Tensor& g) {
    std::lock_guard<std::mutex> lock(mutex);
    Slot& s = slots[k];
    Bucket& b = buckets[s.bucket];
    if (b.started) fail("dist: a gradient arrived after its bucket was sent (a parameter used by two backward passes?)");
    torch::NoGradGuard no_grad;
    if (s.ready) {
      grad_view(k).add_(g.reshape(-1));
      return;
    }
    grad_view(k).copy_(g.reshape(-1));
    b.flat.narrow(0, s.flag, 1).fill_(1);
    s.ready = true;
    ++b.ready;
    start_ready();
  }

  void finish() {
    std::lock_guard<std::mutex> lock(mutex);
    torch::NoGradGuard no_grad;
    for (Bucket& b : buckets) b.ready = b.params;  // unused slots are still zero
    start_ready();
    for (Bucket& b : buckets) b.pending.wait();
    for (size_t k = 0; k < params.size(); ++k) {
      Bucket& b = buckets[slots[k].bucket];
      if (b.flat[slots[k].flag].item<double>() == 0) continue;  // no rank used it
      auto sum = grad_view(k).view_as(params[k]);
      auto& grad = params[k].mutable_grad();
      if (grad.defined())
        grad.copy_(sum);
      else
        grad = sum.clone();
    }
    for (Slot& s : slots) s.ready = false;
    for (Bucket& b : buckets) {
      b.flat.zero_();
      b.ready = 0;
      b.started = false;
    }
    next = 0;
  }
};

GradientReducer::GradientReducer(World& world, std::vector<torch::Tensor> params, size_t bucket_bytes) {
  if (!world.distributed()) return;
  impl_ = std::make_unique<Impl>(world, std::move(params), bucket_bytes);
  for (size_t k = 0; k < impl_->params.size(); ++k) {
    Impl* impl = impl_.get();
    impl_->hooks.push_back(impl_->params[k].register_hook([impl, k](torch::Tensor g) { impl->on_grad(k, g); }));
  }
}

GradientReducer::~GradientReducer() {
  if (!impl_) return;
  for (size_t k = 0; k < impl_->hooks.size(); ++k) impl_->params[k].remove_hook(impl_->hooks[k]);
}

void GradientReducer::finish() {
  if (impl_) impl_->finish();
}

}  // namespace userllm::dist
