// A run directory records how it was made: config.json holds the command
// line, the resolved options, the program version and the start time, so any
// result can be traced back to the command that produced it.
#pragma once
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

namespace userllm {

// The command line of this process, as typed (set once by main).
void set_command_line(int argc, char** argv);
const std::string& command_line();

// Writes RUN/config.json atomically: {"command": ..., "version": ..., "created": ..., "options": options}.
// config.json: the command, version, time and options, plus `extra`'s keys (e.g. "distributed").
void write_run_config(const std::filesystem::path& run_dir, const nlohmann::json& options,
                      const nlohmann::json& extra = nlohmann::json::object());
nlohmann::json read_run_config(const std::filesystem::path& run_dir);

std::string version_string();
std::string utc_now_iso8601();

}  // namespace userllm
