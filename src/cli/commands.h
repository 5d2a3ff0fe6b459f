// Each command group registers its subcommands on the root app. One file per
// group (data_cmd.cpp, encoder_cmd.cpp, lm_cmd.cpp, ...), wired in main.cpp.
#pragma once
#include <CLI/CLI.hpp>

namespace userllm::cli {

void add_data_commands(CLI::App& app);
void add_encoder_commands(CLI::App& app);
void add_lm_commands(CLI::App& app);

}  // namespace userllm::cli
