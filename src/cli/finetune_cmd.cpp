// `userllm finetune`: being written this session (placeholder that registers nothing).
#include "cli/commands.h"

namespace userllm::cli {

void add_finetune_commands(CLI::App&) {}

}  // namespace userllm::cli
