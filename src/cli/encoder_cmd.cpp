#include "cli/commands.h"

namespace userllm::cli {

void add_encoder_commands(CLI::App& app) {
  auto* cmd = app.add_subcommand("encoder", "encoder commands");
  cmd->require_subcommand(1);
}

}  // namespace userllm::cli
