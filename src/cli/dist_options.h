// --dist-backend and --dist-timeout of the training commands, and joining the world
// torchrun describes (docs/distributed.md).
#pragma once
#include <CLI/CLI.hpp>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "common/outputs.h"

namespace userllm::cli {

struct DistArgs {
  std::string backend;  // empty: gloo on CPU, nccl on CUDA
  int timeout = 300;    // seconds
};

void add_dist_options(CLI::App* command, DistArgs& a);

// Joins torchrun's world when its variables are set, and returns the device this
// rank trains on (cuda:LOCAL_RANK for CUDA); alone, `device` as given.
std::string join_world(const DistArgs& a, const std::string& device);

// check_run_out (cli/resume_check.h) on every rank, with --dist-backend and --dist-timeout
// free to change on resume; when it fails on any rank, every rank stops (a rank that
// refused its --out must not leave the others waiting for it).
void check_run_out_on_every_rank(const CLI::App& command, bool resume, const std::filesystem::path& out,
                                 const std::filesystem::path& record, OutputKind kind,
                                 const std::vector<std::filesystem::path>& inputs, std::set<std::string> may_change);

}  // namespace userllm::cli
