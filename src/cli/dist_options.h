// --dist-backend and --dist-timeout of the training commands, and joining the world
// torchrun describes (docs/distributed.md).
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace userllm::cli {

struct DistArgs {
  std::string backend;  // empty: gloo on CPU, nccl on CUDA
  int timeout = 300;    // seconds
};

void add_dist_options(CLI::App* command, DistArgs& a);

// Joins torchrun's world when its variables are set, and returns the device this
// rank trains on (cuda:LOCAL_RANK for CUDA); alone, `device` as given.
std::string join_world(const DistArgs& a, const std::string& device);

// Runs `check` on every rank; when it fails on any, every rank stops (a rank that
// refused its --out must not leave the others waiting for it).
void check_on_every_rank(const std::function<void()>& check);

}  // namespace userllm::cli
