// userllm: the command-line tool. Errors caused by input are printed as one
// clear line and exit with status 1; usage errors exit with CLI11's codes.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <exception>
#include <memory>

#include "cli/commands.h"
#include "common/error.h"
#include "common/progress.h"
#include "common/run_dir.h"
#include "llm/threads.h"

int main(int argc, char** argv) {
  userllm::set_command_line(argc, argv);
  // stdout carries results only (generated text, JSON); logs go to stderr.
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("", std::make_shared<spdlog::sinks::stderr_color_sink_mt>()));
  CLI::App app{"userllm: user-history embeddings for large language models (User-LLM)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", userllm::version_string());
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
  userllm::cli::add_report_commands(app);
  userllm::cli::add_demo_commands(app);
  userllm::cli::add_serve_commands(app);
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
    return app.exit(e);
  } catch (const userllm::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
