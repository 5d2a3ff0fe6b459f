// The scheduler: one thread owns the model. HTTP threads never touch it; they
// queue generations (bounded) and small model tasks, and the engine thread
// runs them between decoding steps. Generations decode together (continuous
// batching, serve/decode_batch.h): queued ones are prefilled together and join
// the running batch at a token boundary and leaves it when it ends, so a long answer never holds up
// a short one.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "llm/sampling.h"
#include "serve/decode_batch.h"
#include "serve/requests.h"

namespace userllm::serve {


struct GenerationOutcome {
  std::vector<int64_t> tokens;  // generated ids, the stop token excluded
  std::string finish_reason;    // "stop", "length", "cancelled", "timeout", "error"
  std::string error;            // for "error"
  int status = 500;             // for "error": 4xx when the request was at fault (serve/request_error.h)
  int64_t prompt_positions = 0;
  double first_token_s = 0;     // from submission to the first token
};

struct Generation {
  // What the model reads first, built on the engine thread (it needs the model). It may
  // lower max_tokens to what the context leaves; a RequestError fails the request with its status.
  std::function<Prefill(int64_t& max_tokens)> prepare;
  int64_t max_tokens = 16;
  llm::SamplingParams sampling;
  std::vector<int64_t> stop_tokens;
  Clock::time_point deadline = Clock::time_point::max();
  // Each token as it is chosen (engine thread); false ends the generation ("stop": a stop
  // string matched) unless `cancelled` is set, which ends it as "cancelled".
  std::function<bool(int64_t token)> on_token;
  std::function<void(GenerationOutcome)> on_done;  // exactly once
  std::shared_ptr<std::atomic<bool>> cancelled = std::make_shared<std::atomic<bool>>(false);
};

struct EngineOptions {
  int64_t max_batch = 16;
  int64_t max_queue = 256;
  int64_t capacity = 0;         // KV slots (DecodeBatchOptions)
  int64_t context_vectors = 0;  // cross-attention: user vectors per row
};

class Engine {
 public:
  Engine(llm::LlamaForCausalLM model, bridge::CrossAttentionStack cross, const EngineOptions& o);
  ~Engine();  // shutdown()

  // Queues a generation; false (nothing queued) when the queue is full or the engine is stopping.
  bool submit(Generation g);
  // Runs fn on the engine thread between steps and waits for it; its exception is rethrown here.
  void run(const std::function<void()>& fn);
  // Stops taking work, finishes what runs and what is queued, and joins the thread.
  void shutdown();

  int64_t queued() const;
  int64_t running() const { return running_.load(); }
  int64_t tokens_generated() const { return tokens_.load(); }

 private:
  struct Active {
    Generation g;
    llm::Sampler sampler;
    GenerationOutcome out;
    int64_t last = 0;
    Clock::time_point submitted;
  };
  struct Queued {
    Generation g;
    Clock::time_point submitted;
  };
  void loop();
  // Prepares and prefills the newly admitted generations (together) and adds them to the batch.
  void admit(std::deque<Queued>& queued);
  void retire(size_t row);  // ends row's place in the batch (the last row moves into it)
  // Records token t for row i; false when the row is done (its outcome is then final).
  bool accept(Active& a, int64_t t, int64_t row_length);
  void finish(Active& a, const std::string& reason);

  EngineOptions o_;
  DecodeBatch batch_;
  std::vector<std::unique_ptr<Active>> active_;  // row i of batch_
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Queued> queue_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::atomic<int64_t> running_{0}, tokens_{0};
  std::thread thread_;
};

}  // namespace userllm::serve
