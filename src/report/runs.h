// Reading the runs a report is made of. A fine-tuned run (user_llm.json) has
// its options in run/config.json and, once evaluated, eval-<split>.json; an
// encoder run (encoder.json) and an LM pretraining run contribute their
// curves. Everything absent is listed in `missing` for the page to say so.
#pragma once
#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "train/finetune.h"

namespace userllm::report {

enum class RunKind { kFinetune, kEncoder, kLm };
const char* kind_name(RunKind k);  // "fine-tuned", "encoder", "lm"

struct CurvePoint {
  int64_t step;
  double value;
};

struct Run {
  std::filesystem::path dir;
  std::string name;     // unique among the report's runs
  RunKind kind = RunKind::kLm;
  std::string command;  // as recorded in the run's config.json ("" when absent)
  std::optional<train::FinetuneOptions> finetune;  // fine-tuned runs
  std::vector<CurvePoint> train_loss;              // metrics.jsonl: {"step","loss"}
  std::vector<CurvePoint> validation;              // {"step","split":"validation", validation_key}
  std::string validation_key;                      // "loss", or the first metric an encoder logs (recall@10)
  std::optional<nlohmann::json> eval;              // eval-<split>.json, checked to have "metrics"
  std::vector<std::string> missing;                // what the page reports as absent
};

// Throws userllm::Error when DIR is not a run or one of its files is malformed.
Run read_run(const std::filesystem::path& dir, const std::string& split);

// The command recorded in DIR/run/config.json or DIR/config.json ("" when none).
std::string recorded_command(const std::filesystem::path& dir);

// A numeric member of an object, NaN when absent or not a number.
double number_or_nan(const nlohmann::json& j, const std::string& key);

}  // namespace userllm::report
