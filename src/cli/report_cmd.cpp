// `userllm report`: being written this session (placeholder that registers nothing).
#include "cli/commands.h"

namespace userllm::cli {

void add_report_commands(CLI::App&) {}

}  // namespace userllm::cli
