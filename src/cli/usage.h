// How the command line answers misuse. A usage error (an unknown command or
// flag, a value that does not parse or is out of range) prints one
// `error: ...` line and exits with kUsageError; an error in the inputs
// (common/error.h) exits with 1. Every numeric flag of every command gets
// its range from one table here, so a flag means the same range everywhere.
#pragma once
#include <CLI/CLI.hpp>

#include <string>

namespace userllm::cli {

constexpr int kUsageError = 2;

// Adds the range check of every numeric option of every command. Throws
// std::logic_error for a numeric option the table does not cover, so a new
// flag cannot ship unchecked (every test run starts here).
void add_range_checks(CLI::App& app);

// "--batch-size" for an option (hidden ones too, which CLI11's get_name() leaves empty), or a positional's name.
std::string flag_name(const CLI::Option& opt);

// The one line for a parse error: an unknown command gets its nearest name
// ("unknown command 'dat' (did you mean 'data'?)").
std::string usage_message(CLI::App& app, const CLI::ParseError& e, int argc, char** argv);

}  // namespace userllm::cli
