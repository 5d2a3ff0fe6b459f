// Running another program and waiting for it, without a shell (no quoting
// pitfalls): the demo runs each step as its own `userllm` command, so every
// run directory records the exact command that made it.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace userllm {

// Runs argv[0] (searched on PATH when it has no '/') with the arguments,
// inheriting stdin/stdout/stderr; returns its exit status (128 + signal when
// killed). Throws userllm::Error when it cannot be started.
int run_process(const std::vector<std::string>& argv);

// The same with stdout and stderr written to `log` (created or truncated).
int run_process(const std::vector<std::string>& argv, const std::filesystem::path& log);

// This executable's path (/proc/self/exe).
std::filesystem::path self_executable();

}  // namespace userllm
