#include "report/runs.h"

#include <cmath>
#include <limits>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/metrics.h"
#include "common/run_dir.h"

namespace fs = std::filesystem;

namespace userllm::report {
namespace {

// Fine-tuning and LM pretraining keep config.json in RUN/run/, the encoder in RUN/.
std::optional<nlohmann::json> find_config(const fs::path& dir) {
  for (const fs::path& d : {dir / "run", dir})
    if (fs::exists(d / "config.json")) return read_run_config(d);
  return std::nullopt;
}

void read_curves(Run& r) {
  const fs::path path = r.dir / "metrics.jsonl";
  if (!fs::exists(path)) {
    r.missing.push_back("metrics.jsonl (no curves)");
    return;
  }
  for (const auto& rec : read_jsonl(path)) {
    if (!rec.is_object() || !rec.contains("step") || !rec["step"].is_number_integer()) continue;
    const int64_t step = rec["step"].get<int64_t>();
    const bool validation = rec.value("split", std::string()) == "validation";
    if (!validation) {
      double loss = number_or_nan(rec, "loss");
      if (std::isfinite(loss)) r.train_loss.push_back({step, loss});
      continue;
    }
    if (r.validation_key.empty()) {  // the first record decides what the curve shows
      for (const char* key : {"loss", "recall@10", "accuracy"})
        if (rec.contains(key)) {
          r.validation_key = key;
          break;
        }
      for (const auto& [key, value] : rec.items())
        if (r.validation_key.empty() && value.is_number_float()) r.validation_key = key;
    }
    double v = r.validation_key.empty() ? NAN : number_or_nan(rec, r.validation_key);
    if (std::isfinite(v)) r.validation.push_back({step, v});
  }
  if (r.train_loss.empty() && r.validation.empty()) r.missing.push_back("metrics.jsonl has no loss records");
}

void read_eval(Run& r, const std::string& split) {
  const fs::path path = r.dir / ("eval-" + split + ".json");
  if (!fs::exists(path)) {
    r.missing.push_back("eval-" + split + ".json (not evaluated: no table row, no quality or cost point)");
    return;
  }
  auto j = nlohmann::json::parse(read_file(path), nullptr, false);
  if (j.is_discarded() || !j.is_object()) fail(path.string() + ": not a JSON object");
  if (!j.contains("metrics") || !j["metrics"].is_object() || j["metrics"].empty())
    fail(path.string() + ": expected a non-empty \"metrics\" object (as `userllm evaluate` writes)");
  for (const auto& [key, value] : j["metrics"].items())
    if (!value.is_number()) fail(path.string() + ": metrics." + key + " is not a number");
  if (j.contains("cost") && !j["cost"].is_object()) fail(path.string() + ": \"cost\" is not an object");
  r.eval = std::move(j);
}

}  // namespace

const char* kind_name(RunKind k) {
  switch (k) {
    case RunKind::kFinetune: return "fine-tuned";
    case RunKind::kEncoder: return "encoder";
    case RunKind::kLm: return "lm";
  }
  return "?";
}

std::string recorded_command(const fs::path& dir) {
  auto config = find_config(dir);
  return config && config->is_object() ? config->value("command", std::string()) : std::string();
}

double number_or_nan(const nlohmann::json& j, const std::string& key) {
  if (!j.is_object()) return std::numeric_limits<double>::quiet_NaN();
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : std::numeric_limits<double>::quiet_NaN();
}

Run read_run(const fs::path& dir, const std::string& split) {
  if (!fs::is_directory(dir)) fail(dir.string() + ": not a directory (expected a run directory)");
  Run r;
  r.dir = dir;
  r.name = fs::absolute(dir).lexically_normal().filename().string();
  if (r.name.empty()) r.name = fs::absolute(dir).lexically_normal().parent_path().filename().string();
  if (fs::exists(dir / "user_llm.json"))
    r.kind = RunKind::kFinetune;
  else if (fs::exists(dir / "encoder.json"))
    r.kind = RunKind::kEncoder;
  else if (!fs::exists(dir / "metrics.jsonl"))
    fail(dir.string() + ": not a run (no user_llm.json, encoder.json or metrics.jsonl)");

  auto config = find_config(dir);
  if (config) {
    if (!config->is_object()) fail(dir.string() + ": config.json is not a JSON object");
    r.command = config->value("command", std::string());
  } else {
    r.missing.push_back("config.json (the command is unknown)");
  }
  if (r.kind == RunKind::kFinetune) {
    try {  // user_llm.json: its sources' paths are relative to the run, so a moved run still reports
      r.finetune = train::read_run_options(dir);
    } catch (const nlohmann::json::exception& e) {
      fail(dir.string() + "/user_llm.json: " + e.what());
    }
    read_eval(r, split);
  }
  read_curves(r);
  return r;
}

}  // namespace userllm::report
