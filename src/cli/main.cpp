// userllm: the command-line tool. Every error is one `error: ...` line on
// stderr: status 1 for errors in the inputs, 2 for usage errors (cli/usage.h).
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <cstdio>
#include <exception>
#include <memory>

#include "cli/commands.h"
#include "cli/usage.h"
#include "common/error.h"
#include "common/progress.h"
#include "common/run_dir.h"
#include "llm/threads.h"

namespace {

std::string version() {
  const int gpus = static_cast<int>(torch::cuda::device_count());
  return "userllm " + userllm::version_string() + "\nlibtorch " + std::to_string(TORCH_VERSION_MAJOR) + "." +
         std::to_string(TORCH_VERSION_MINOR) + "." + std::to_string(TORCH_VERSION_PATCH) + ", CUDA " +
         (gpus > 0 ? "available (" + std::to_string(gpus) + " devices)" : std::string("not available")) +
         "\nBLAS: " + userllm::llm::blas_description();
}

}  // namespace

int main(int argc, char** argv) {
  userllm::set_command_line(argc, argv);
  // stdout carries results only (generated text, JSON); logs go to stderr.
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("", std::make_shared<spdlog::sinks::stderr_color_sink_mt>()));
  CLI::App app{"userllm: user-history embeddings for large language models (User-LLM)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", version, "Print the version, libtorch, CUDA and the BLAS in use");
  bool quiet = false;
  app.add_flag("-q,--quiet", quiet, "No progress bars or info logs");
  int threads = 0;
  app.add_option("--threads", threads,
                 "CPU threads for libtorch and OpenBLAS (0 = libtorch's default)");
  userllm::cli::add_data_commands(app);
  userllm::cli::add_encoder_commands(app);
  userllm::cli::add_lm_commands(app);
  userllm::cli::add_finetune_commands(app);
  userllm::cli::add_evaluate_commands(app);
  userllm::cli::add_predict_commands(app);
  userllm::cli::add_report_commands(app);
  userllm::cli::add_demo_commands(app);
  userllm::cli::add_serve_commands(app);
  userllm::cli::add_range_checks(app);
  app.parse_complete_callback([&] {
    // No default: for the small models here one thread is faster than two
    // (measured 2.2x on a 2-core machine, docs/results.md), and libtorch's own default is 1 here.
    if (threads > 0) userllm::llm::set_threads(threads);
    if (quiet) {
      userllm::Progress::set_enabled(false);
      spdlog::set_level(spdlog::level::warn);
    }
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::fprintf(stderr, "error: %s\n", userllm::cli::usage_message(app, e, argc, argv).c_str());
    return userllm::cli::kUsageError;
  } catch (const userllm::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
