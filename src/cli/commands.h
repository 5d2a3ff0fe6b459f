// Each command group registers its subcommands on the root app. One file per
// group (data_cmd.cpp, encoder_cmd.cpp, lm_cmd.cpp, ...), wired in main.cpp.
#pragma once
#include <CLI/CLI.hpp>

namespace userllm::train {
struct SourceOverrides;
}

namespace userllm::cli {

void add_data_commands(CLI::App& app);
void add_encoder_commands(CLI::App& app);
void add_lm_commands(CLI::App& app);
void add_finetune_commands(CLI::App& app);  // finetune
void add_evaluate_commands(CLI::App& app);  // evaluate
void add_predict_commands(CLI::App& app);   // predict
void add_report_commands(CLI::App& app);    // report
void add_demo_commands(CLI::App& app);      // demo
void add_serve_commands(CLI::App& app);     // serve

// --data, --encoder, --llm: where a fine-tuned run's sources are when they have moved (evaluate, predict).
void add_source_flags(CLI::App* command, train::SourceOverrides& sources);

}  // namespace userllm::cli
