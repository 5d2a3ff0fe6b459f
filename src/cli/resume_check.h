// A resumed run keeps the options it started with: its learning-rate schedule,
// data order and shapes are fixed by them. A flag given again with --resume
// must repeat its recorded value; any other value is refused by name, never
// silently ignored.
#pragma once
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "common/outputs.h"

namespace userllm::cli {

// recorded: the run's config.json "options". may_change: flags a resume may
// set anew (--device, --threads); --out and --resume are always allowed.
void check_resumed_flags(const CLI::App& command, const nlohmann::json& recorded, const std::set<std::string>& may_change);

// A training command's --out: with --resume, `record`/config.json must exist
// and the flags repeat its options; without, --out must be free for a new run
// of `kind` (common/outputs.h: not an input, not something else).
void check_run_out(const CLI::App& command, bool resume, const std::filesystem::path& out,
                   const std::filesystem::path& record, OutputKind kind, const std::vector<std::filesystem::path>& inputs,
                   const std::set<std::string>& may_change);

}  // namespace userllm::cli
