#include "cli/dist_options.h"

#include "cli/resume_check.h"
#include "dist/world.h"

namespace userllm::cli {

void add_dist_options(CLI::App* c, DistArgs& a) {
  c->add_option("--dist-backend", a.backend, "under torchrun: gloo or nccl (default: gloo on CPU, nccl on CUDA)")
      ->check(CLI::IsMember({"gloo", "nccl"}));
  c->add_option("--dist-timeout", a.timeout, "under torchrun: seconds before a lost or hung rank stops the others")
      ->capture_default_str();
}

std::string join_world(const DistArgs& a, const std::string& device) {
  dist::WorldOptions o;
  o.backend = a.backend;
  o.timeout = std::chrono::seconds(a.timeout);
  return dist::World::join(o, device);
}

void check_run_out_on_every_rank(const CLI::App& command, bool resume, const std::filesystem::path& out,
                                 const std::filesystem::path& record, OutputKind kind,
                                 const std::vector<std::filesystem::path>& inputs, std::set<std::string> may_change) {
  may_change.insert({"--dist-backend", "--dist-timeout"});
  std::string error;
  try {
    check_run_out(command, resume, out, record, kind, inputs, may_change);
  } catch (const std::exception& e) {
    error = e.what();
  }
  dist::World::get().agree(error, "checking the command line");
}

}  // namespace userllm::cli
