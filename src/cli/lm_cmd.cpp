#include "cli/commands.h"

namespace userllm::cli {

void add_lm_commands(CLI::App& app) {
  auto* cmd = app.add_subcommand("lm", "lm commands");
  cmd->require_subcommand(1);
}

}  // namespace userllm::cli
