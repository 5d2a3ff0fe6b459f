// The processes one training run is spread over: PyTorch's c10d world as torchrun
// launches it (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), or this
// process alone. The trainers ask the World for their shard of each batch and for
// the sums that make N ranks step exactly as one process with the whole batch.
// c10d stays inside src/dist/*.cpp: no header here includes it.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/types.h>

namespace userllm::dist {

// Where the launcher placed this process. `launched` is false without RANK and WORLD_SIZE.
struct LaunchEnv {
  bool launched = false;
  int rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr;
  int master_port = 0;
};

// Reads torchrun's variables; a malformed or missing one is a one-line Error.
LaunchEnv launch_env();

struct WorldOptions {
  std::string backend;                 // "gloo" or "nccl"; empty: gloo on CPU, nccl on CUDA
  std::chrono::seconds timeout{300};   // rendezvous, every collective, a lost peer
};

// A collective running in the background (a bucket of gradients).
class Pending {
 public:
  struct Impl;
  Pending();  // nothing to wait for
  explicit Pending(std::unique_ptr<Impl> impl);
  Pending(Pending&&) noexcept;
  Pending& operator=(Pending&&) noexcept;
  ~Pending();
  void wait();  // rethrows the collective's failure as a one-line Error

 private:
  std::unique_ptr<Impl> impl_;
};

// A seed of its own for each rank and step (dropout, sampled negatives): ranks must not
// draw the same masks, and a resumed run must draw what the uninterrupted one drew.
inline uint64_t step_seed(uint64_t seed, int rank, int64_t step) {
  uint64_t x = seed ^ (uint64_t(rank) + 1) * 0x9e3779b97f4a7c15ULL ^ uint64_t(step) * 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 31;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 29);
}

class World {
 public:
  // The process's world: one process until join() finds a launcher's variables.
  static World& get();
  // Joins the world torchrun describes (rendezvous through c10d's TCPStore at
  // MASTER_ADDR:MASTER_PORT, then a Gloo or NCCL process group), or stays alone
  // when the variables are absent. `device` is the command's --device: CUDA ranks
  // take cuda:LOCAL_RANK. Returns the device this rank trains on.
  static std::string join(const WorldOptions& o, const std::string& device);

  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }
  bool main() const { return rank_ == 0; }
  bool distributed() const { return size_ > 1; }
  const std::string& backend() const { return backend_; }

  // {"world_size", "backend"}: what a run's config.json records.
  nlohmann::json record() const { return {{"world_size", size_}, {"backend", backend_}}; }

  // Refuses a global batch with fewer rows than ranks; `who` prefixes the message.
  void check_batch_size(int64_t batch_size, const std::string& who) const;
  // This rank's rows [begin, end) of n: contiguous, disjoint, together all n.
  std::pair<int64_t, int64_t> shard(int64_t n) const;
  // The step the trainer is at, for error messages.
  void set_step(int64_t step) { step_ = step; }

  // Sums over all ranks (the value itself when alone).
  double sum(double x, const std::string& what);
  std::vector<double> sum(std::vector<double> xs, const std::string& what);
  // Rank 0's values in every rank's tensors, in place.
  void broadcast(const std::vector<torch::Tensor>& tensors, const std::string& what);
  // Starts an in-place sum of a contiguous tensor over all ranks.
  Pending start_sum(torch::Tensor flat, const std::string& what);
  // Every rank learns whether any rank failed (error non-empty) and then all throw:
  // the failing rank its own error, the others one naming it. Alone: throws `error`.
  void agree(const std::string& error, const std::string& what);
  // Runs `write` on rank 0 only (checkpoints, metrics, summaries) and stops every rank
  // when it fails there.
  void on_main(const std::string& what, const std::function<void()>& write);

  struct Impl;
  ~World();

 private:
  World();
  [[noreturn]] void lost(const std::string& what, const std::exception& e);
  int rank_ = 0, size_ = 1, local_rank_ = 0;
  int64_t step_ = 0;
  std::string backend_ = "none";
  std::unique_ptr<Impl> impl_;
  friend class Pending;
};

}  // namespace userllm::dist
