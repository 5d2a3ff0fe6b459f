#include "cli/commands.h"

namespace userllm::cli {

void add_data_commands(CLI::App& app) {
  auto* cmd = app.add_subcommand("data", "data commands");
  cmd->require_subcommand(1);
}

}  // namespace userllm::cli
