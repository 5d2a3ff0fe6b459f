#include "serve/engine.h"

#include <future>

#include "common/error.h"
#include "serve/request_error.h"

namespace userllm::serve {

Engine::Engine(llm::LlamaForCausalLM model, bridge::CrossAttentionStack cross, const EngineOptions& o)
    : o_(o), batch_(std::move(model), std::move(cross), {o.max_batch, o.capacity, o.context_vectors}) {
  if (o_.max_queue < 1) fail("engine: the queue must hold at least one request");
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() { shutdown(); }

bool Engine::submit(Generation g) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_ || int64_t(queue_.size()) >= o_.max_queue) return false;
  queue_.push_back({std::move(g), Clock::now()});
  cv_.notify_one();
  return true;
}

void Engine::run(const std::function<void()>& fn) {
  auto done = std::make_shared<std::promise<void>>();
  auto f = done->get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!thread_.joinable() || (stopping_ && std::this_thread::get_id() != thread_.get_id()))
      fail("the server is shutting down");
    tasks_.push_back([fn, done] {
      try {
        fn();
        done->set_value();
      } catch (...) {
        done->set_exception(std::current_exception());
      }
    });
  }
  cv_.notify_one();
  f.get();
}

void Engine::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int64_t Engine::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return int64_t(queue_.size());
}

void Engine::finish(Active& a, const std::string& reason) {
  a.out.finish_reason = reason;
  if (a.g.on_done) a.g.on_done(std::move(a.out));
  a.g.on_done = nullptr;
}

bool Engine::accept(Active& a, int64_t t, int64_t row_length) {
  if (a.out.tokens.empty()) a.out.first_token_s = std::chrono::duration<double>(Clock::now() - a.submitted).count();
  if (a.g.cancelled->load()) return finish(a, "cancelled"), false;
  if (Clock::now() > a.g.deadline) return finish(a, "timeout"), false;
  for (int64_t s : a.g.stop_tokens)
    if (t == s) return finish(a, "stop"), false;
  a.out.tokens.push_back(t);
  a.last = t;
  ++tokens_;
  if (a.g.on_token && !a.g.on_token(t)) return finish(a, a.g.cancelled->load() ? "cancelled" : "stop"), false;
  // The next step reads this token at position row_length; the context must hold it.
  if (int64_t(a.out.tokens.size()) >= a.g.max_tokens || row_length + 1 > batch_.context_length())
    return finish(a, "length"), false;
  return true;
}

void Engine::retire(size_t i) {
  batch_.remove(int64_t(i));
  if (i != active_.size() - 1) active_[i] = std::move(active_.back());
  active_.pop_back();
}

void Engine::admit(std::deque<Queued>& queued) {
  // Prefilled together, up to a budget of padded positions (TP prompts are long).
  constexpr int64_t kPrefillPositions = 4096;
  std::vector<std::unique_ptr<Active>> ready;
  std::vector<Prefill> prefills;
  int64_t longest = 0;
  auto flush = [&] {
    if (ready.empty()) return;
    std::vector<torch::Tensor> logits;
    try {
      logits = batch_.add_many(prefills);
    } catch (const std::exception& e) {
      for (auto& a : ready) a->out.error = e.what(), finish(*a, "error");
      ready.clear(), prefills.clear(), longest = 0;
      return;
    }
    const size_t first = active_.size();
    for (auto& a : ready) active_.push_back(std::move(a));
    // Backwards, so a removal (the last row moves into i) never skips a row.
    for (size_t i = active_.size(); i-- > first;) {
      Active& a = *active_[i];
      a.out.prompt_positions = batch_.length(int64_t(i));
      if (!accept(a, a.sampler.sample(logits[i - first]), batch_.length(int64_t(i)))) retire(i);
    }
    ready.clear(), prefills.clear(), longest = 0;
  };
  for (auto& q : queued) {
    llm::Sampler sampler(q.g.sampling);
    auto a = std::make_unique<Active>(Active{std::move(q.g), std::move(sampler), {}, 0, q.submitted});
    if (Clock::now() > a->g.deadline) {
      finish(*a, "timeout");
      continue;
    }
    if (a->g.cancelled->load()) {
      finish(*a, "cancelled");
      continue;
    }
    Prefill p;
    try {
      p = a->g.prepare(a->g.max_tokens);
    } catch (const RequestError& e) {
      a->out.error = e.what();
      a->out.status = e.status;
      finish(*a, "error");
      continue;
    } catch (const std::exception& e) {
      a->out.error = e.what();
      finish(*a, "error");
      continue;
    }
    const int64_t n = p.ids.defined() ? p.ids.size(1) : p.embeds.size(1);
    if (!ready.empty() && int64_t(ready.size() + 1) * std::max(longest, n) > kPrefillPositions) flush();
    longest = std::max(longest, n);
    ready.push_back(std::move(a));
    prefills.push_back(std::move(p));
  }
  flush();
  running_ = int64_t(active_.size());
}

void Engine::loop() {
  for (;;) {
    std::deque<std::function<void()>> tasks;
    std::deque<Queued> admitted;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !tasks_.empty() || !queue_.empty() || !active_.empty(); });
      tasks.swap(tasks_);
      while (!queue_.empty() && int64_t(active_.size() + admitted.size()) < o_.max_batch) {
        admitted.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      if (stopping_ && tasks.empty() && admitted.empty() && queue_.empty() && active_.empty()) break;
    }
    for (auto& t : tasks) t();
    admit(admitted);
    if (active_.empty()) continue;
    std::vector<int64_t> last;
    for (auto& a : active_) last.push_back(a->last);
    torch::Tensor logits;
    try {
      logits = batch_.step(last);
    } catch (const std::exception& e) {  // nothing in a row should do this; end them all cleanly
      for (size_t i = active_.size(); i-- > 0;) {
        active_[i]->out.error = e.what();
        finish(*active_[i], "error");
        batch_.remove(int64_t(i));
      }
      active_.clear();
      running_ = 0;
      continue;
    }
    // Backwards, so a removal (the last row moves into i) never skips a row.
    for (size_t i = active_.size(); i-- > 0;) {
      Active& a = *active_[i];
      if (!accept(a, a.sampler.sample(logits[int64_t(i)]), batch_.length(int64_t(i)))) retire(i);
    }
    running_ = int64_t(active_.size());
  }
}

}  // namespace userllm::serve
