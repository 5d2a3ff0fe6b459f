#include "dist/world.h"

#include "common/build_config.h"

#define USE_C10D_GLOO 1  // the header's declarations sit behind it; Debian's libtorch has Gloo
#if USERLLM_TORCH_CUDA && !defined(USE_C10D_NCCL)
#define USE_C10D_NCCL 1
#endif
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#include <torch/version.h>

#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "common/error.h"
#include "common/one_line.h"
#include "common/progress.h"

namespace userllm::dist {

namespace {

// libtorch 2 moved the collectives from ProcessGroup to Backend.
#if TORCH_VERSION_MAJOR >= 2
using Group = c10d::Backend;
#else
using Group = c10d::ProcessGroup;
#endif

int env_int(const char* name, int lo, int hi, int fallback) {
  const char* v = std::getenv(name);
  if (!v) return fallback;
  char* end = nullptr;
  errno = 0;
  const long x = std::strtol(v, &end, 10);
  if (*v == '\0' || *end != '\0' || errno != 0 || x < lo || x > hi)
    fail(std::string("environment: ") + name + "='" + one_line(v) + "' is not an integer in [" + std::to_string(lo) +
         ", " + std::to_string(hi) + "]");
  return int(x);
}

constexpr auto kBeat = std::chrono::milliseconds(500);

}  // namespace

LaunchEnv launch_env() {
  LaunchEnv e;
  const bool has_rank = std::getenv("RANK") != nullptr, has_size = std::getenv("WORLD_SIZE") != nullptr;
  if (!has_rank && !has_size) return e;
  if (has_rank != has_size) fail("environment: RANK and WORLD_SIZE come together (torchrun sets both)");
  e.launched = true;
  e.world_size = env_int("WORLD_SIZE", 1, 65536, 1);
  e.rank = env_int("RANK", 0, e.world_size - 1, 0);
  e.local_rank = env_int("LOCAL_RANK", 0, 65535, e.rank);
  if (e.world_size == 1) return e;  // nothing to meet
  const char* addr = std::getenv("MASTER_ADDR");
  if (!addr || !*addr) fail("environment: MASTER_ADDR is not set (torchrun sets it; by hand, e.g. 127.0.0.1)");
  e.master_addr = addr;
  if (!std::getenv("MASTER_PORT")) fail("environment: MASTER_PORT is not set (torchrun sets it; by hand, e.g. 29500)");
  e.master_port = env_int("MASTER_PORT", 1, 65535, 0);
  return e;
}

struct World::Impl {
  c10::intrusive_ptr<c10d::Store> store;  // the rendezvous store, prefixed for this run
  c10::intrusive_ptr<Group> group;
  torch::Device device = torch::kCPU;     // where collectives' tensors live (CUDA for NCCL)
  std::string store_host;                 // "rank 0" or "the launcher's agent"

  // Every rank counts its heartbeats in the store from its own connection, so that a
  // rank whose collective failed can tell a dead peer from a slow one.
  c10::intrusive_ptr<c10d::Store> beat_store;
  std::mutex beat_mutex;
  std::thread beat;
  std::mutex stop_mutex;
  std::condition_variable stop_cv;
  bool stopping = false;

  void start_heartbeat(int rank) {
    beat = std::thread([this, rank] {
      const std::string key = "alive/" + std::to_string(rank);
      std::unique_lock<std::mutex> stop(stop_mutex);
      while (!stopping) {
        try {
          std::lock_guard<std::mutex> l(beat_mutex);
          beat_store->add(key, 1);
        } catch (const std::exception&) {
          return;  // the store is gone: the collective that notices says so
        }
        stop_cv.wait_for(stop, kBeat, [this] { return stopping; });
      }
    });
  }

  ~Impl() {
    {
      std::lock_guard<std::mutex> l(stop_mutex);
      stopping = true;
    }
    stop_cv.notify_all();
    if (beat.joinable()) beat.join();
  }

  // Which peers stopped beating over a few beats; empty when all still beat.
  std::string lost_peers(int me, int size) {
    auto read = [&] {
      std::vector<int64_t> n(size_t(size), 0);
      std::lock_guard<std::mutex> l(beat_mutex);
      for (int r = 0; r < size; ++r)
        if (r != me) n[size_t(r)] = beat_store->add("alive/" + std::to_string(r), 0);
      return n;
    };
    std::vector<int64_t> before, after;
    try {
      before = read();
      std::this_thread::sleep_for(kBeat * 5);
      after = read();
    } catch (const std::exception&) {
      return store_host + ", which holds the rendezvous store, is gone";
    }
    std::string lost;
    for (int r = 0; r < size; ++r)
      if (r != me && after[size_t(r)] == before[size_t(r)]) lost += (lost.empty() ? "rank " : ", rank ") + std::to_string(r);
    return lost.empty() ? "" : lost + " stopped answering";
  }
};

struct Pending::Impl {
  World* world;
  c10::intrusive_ptr<c10d::Work> work;
  std::string what;
};

Pending::Pending() = default;
Pending::Pending(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Pending::Pending(Pending&&) noexcept = default;
Pending& Pending::operator=(Pending&&) noexcept = default;
Pending::~Pending() = default;

void Pending::wait() {
  if (!impl_ || !impl_->work) return;
  try {
    impl_->work->wait();
  } catch (const std::exception& e) {
    impl_->world->lost(impl_->what, e);
  }
  impl_->work.reset();
}

World::World() = default;
World::~World() = default;

World& World::get() {
  static World world;
  return world;
}

std::string World::join(const WorldOptions& o, const std::string& device) {
  World& w = get();
  const LaunchEnv env = launch_env();
  if (!env.launched) return device;
  if (w.impl_ || w.size_ > 1) fail("dist: this process has already joined its world");
  const bool cuda = device.rfind("cuda", 0) == 0;
  const std::string backend = o.backend.empty() ? (cuda ? "nccl" : "gloo") : o.backend;
  if (backend != "gloo" && backend != "nccl") fail("--dist-backend " + backend + ": expected gloo or nccl");
  if (backend == "nccl" && !cuda) fail("--dist-backend nccl needs --device cuda (Gloo is the CPU backend)");
  const std::string dev = cuda ? "cuda:" + std::to_string(env.local_rank) : device;
  w.rank_ = env.rank;
  w.size_ = env.world_size;
  w.local_rank_ = env.local_rank;
  w.backend_ = backend;
  if (env.rank > 0) Progress::set_enabled(false);  // rank 0 draws the bar
  if (env.world_size == 1) return dev;

  const std::string me = "rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size);
  const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
  auto impl = std::make_unique<Impl>();
  impl->device = torch::Device(dev);
  // torchrun's static rendezvous hosts the store in its agent and tells the workers
  // so; otherwise rank 0 hosts it, as torch.distributed's env:// does.
  const char* agent = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
  const bool agent_store = agent && std::string(agent) == "True";
  impl->store_host = agent_store ? "the launcher's agent" : "rank 0";
  auto connect = [&](bool server) {
    c10d::TCPStoreOptions so;
    so.port = uint16_t(env.master_port);
    so.isServer = server;
    so.numWorkers = size_t(env.world_size);
    so.waitWorkers = false;
    so.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(o.timeout);
    return c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
  };
  try {
    const std::string prefix =
        agent_store ? "/worker/attempt_" + std::to_string(env_int("TORCHELASTIC_RESTART_COUNT", 0, 1 << 30, 0)) : "";
    c10::intrusive_ptr<c10d::Store> tcp = connect(!agent_store && env.rank == 0);
    impl->store = c10::make_intrusive<c10d::PrefixStore>(prefix + "/userllm", tcp);
    impl->beat_store = c10::make_intrusive<c10d::PrefixStore>(prefix + "/userllm", connect(false));
  } catch (const std::exception& e) {
    fail(me + ": cannot reach the rendezvous store at " + where + " within " + std::to_string(o.timeout.count()) +
         " s: " + one_line(e.what()));
  }
  try {
    if (backend == "gloo") {
      auto go = c10d::ProcessGroupGloo::Options::create(std::chrono::duration_cast<std::chrono::milliseconds>(o.timeout));
      const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
      go->devices.push_back(ifname && *ifname ? c10d::ProcessGroupGloo::createDeviceForInterface(ifname)
                                              : c10d::ProcessGroupGloo::createDefaultDevice());
      impl->group = c10::make_intrusive<c10d::ProcessGroupGloo>(
          c10::make_intrusive<c10d::PrefixStore>("gloo", impl->store), env.rank, env.world_size, go);
    } else {
#ifdef USE_C10D_NCCL
      auto no = c10d::ProcessGroupNCCL::Options::create();
      no->timeout = std::chrono::duration_cast<std::chrono::milliseconds>(o.timeout);
      impl->group = c10::make_intrusive<c10d::ProcessGroupNCCL>(
          c10::make_intrusive<c10d::PrefixStore>("nccl", impl->store), env.rank, env.world_size, no);
#else
      fail("--dist-backend nccl: this libtorch was built without NCCL (Debian's is CPU-only)");
#endif
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    fail(me + ": the " + backend + " process group did not form at " + where + " within " +
         std::to_string(o.timeout.count()) + " s: " + one_line(e.what()));
  }
  impl->start_heartbeat(env.rank);
  w.impl_ = std::move(impl);
  return dev;
}

void World::check_batch_size(int64_t batch_size, const std::string& who) const {
  if (batch_size < size_)
    fail(who + "--batch-size " + std::to_string(batch_size) + " is the global batch: it needs a row for each of the " +
         std::to_string(size_) + " ranks");
}

std::pair<int64_t, int64_t> World::shard(int64_t n) const {
  return {n * rank_ / size_, n * (rank_ + 1) / size_};
}

void World::lost(const std::string& what, const std::exception& e) {
  std::string who = impl_->lost_peers(rank_, size_);
  if (who.empty()) who = "every peer is still alive: one hung or is slower than --dist-timeout";
  fail("rank " + std::to_string(rank_) + " of " + std::to_string(size_) + ": " + what + " at step " +
       std::to_string(step_) + " failed: " + who + " (" + one_line(e.what()) + ")");
}

Pending World::start_sum(torch::Tensor flat, const std::string& what) {
  auto p = std::make_unique<Pending::Impl>();
  p->world = this;
  p->what = what;
  if (!distributed()) return Pending(std::move(p));
  std::vector<torch::Tensor> ts{flat};
  try {
    p->work = impl_->group->allreduce(ts);
  } catch (const std::exception& e) {
    lost(what, e);
  }
  return Pending(std::move(p));
}

std::vector<double> World::sum(std::vector<double> xs, const std::string& what) {
  if (!distributed() || xs.empty()) return xs;
  auto t = torch::tensor(xs, torch::kDouble).to(impl_->device);
  start_sum(t, what).wait();
  t = t.cpu();
  return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
}

double World::sum(double x, const std::string& what) { return sum(std::vector<double>{x}, what)[0]; }

void World::broadcast(const std::vector<torch::Tensor>& tensors, const std::string& what) {
  if (!distributed()) return;
  torch::NoGradGuard no_grad;
  for (const auto& t : tensors) {
    std::vector<torch::Tensor> ts{t.is_contiguous() ? t.detach() : t.detach().contiguous()};
    try {
      impl_->group->broadcast(ts)->wait();
    } catch (const std::exception& e) {
      lost(what, e);
    }
    if (!t.is_contiguous()) t.detach().copy_(ts[0]);
  }
}

void World::agree(const std::string& error, const std::string& what) {
  if (!distributed()) {
    if (!error.empty()) fail(error);
    return;
  }
  if (!error.empty()) {
    try {
      impl_->store->set("error/" + std::to_string(rank_), std::vector<uint8_t>(error.begin(), error.end()));
    } catch (const std::exception&) {
    }
  }
  const double failed = sum(error.empty() ? 0.0 : 1.0, what);
  if (failed == 0) return;
  if (!error.empty()) fail(error);
  for (int r = 0; r < size_; ++r) {
    const std::string key = "error/" + std::to_string(r);
    try {
      if (!impl_->store->check({key})) continue;
      const auto v = impl_->store->get(key);
      fail("rank " + std::to_string(rank_) + ": stopping because rank " + std::to_string(r) + " failed " + what +
           " at step " + std::to_string(step_) + ": " + std::string(v.begin(), v.end()));
    } catch (const Error&) {
      throw;
    } catch (const std::exception&) {
    }
  }
  fail("rank " + std::to_string(rank_) + ": stopping because another rank failed " + what + " at step " +
       std::to_string(step_));
}

void World::on_main(const std::string& what, const std::function<void()>& write) {
  if (!distributed()) {
    write();
    return;
  }
  std::string error;
  if (main()) {
    try {
      write();
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  agree(error, what);
}

}  // namespace userllm::dist
