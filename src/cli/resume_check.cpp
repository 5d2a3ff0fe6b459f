#include "cli/resume_check.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "cli/usage.h"
#include "common/error.h"
#include "common/run_dir.h"

namespace userllm::cli {
namespace {

// The recorded value of a flag: "--batch-size" is "batch_size", at the top or in a nested object ("model").
const nlohmann::json* find_key(const nlohmann::json& j, const std::string& key) {
  if (!j.is_object()) return nullptr;
  if (auto it = j.find(key); it != j.end()) return &*it;
  for (const auto& [k, v] : j.items())
    if (const nlohmann::json* found = find_key(v, key)) return found;
  return nullptr;
}

bool same_value(const nlohmann::json& recorded, const std::string& given, bool is_flag) {
  if (recorded.is_boolean()) return is_flag ? recorded.get<bool>() : given == (recorded.get<bool>() ? "true" : "false");
  if (recorded.is_number()) {
    char* end = nullptr;
    const double v = std::strtod(given.c_str(), &end);
    const double r = recorded.get<double>();
    return end != given.c_str() && *end == '\0' && std::fabs(v - r) <= 1e-12 * std::max(1.0, std::fabs(r));
  }
  if (recorded.is_string()) {
    const std::string r = recorded.get<std::string>();
    std::error_code ec;  // paths are recorded absolute
    return given == r || (!r.empty() && std::filesystem::equivalent(given, r, ec));
  }
  return false;
}

}  // namespace

void check_resumed_flags(const CLI::App& command, const nlohmann::json& recorded, const std::set<std::string>& may_change) {
  std::string allowed = "--out";
  for (const auto& f : may_change)
    if (f != "--stop-after") allowed += ", " + f;  // a test flag, hidden from --help
  for (const CLI::Option* opt : command.get_options()) {
    const std::string flag = flag_name(*opt);
    if (opt->count() == 0 || flag.rfind("--", 0) != 0 || flag == "--resume" || flag == "--out" || flag == "--help" || may_change.count(flag)) continue;
    // Recorded under another name: the item negatives, the LoRA rank, the projector as a bool.
    static const std::map<std::string, std::string> renamed = {
        {"--sampled-softmax", "sampled_negatives"}, {"--lora-rank", "r"}, {"--projector", "projector_mlp"}};
    std::string key = renamed.count(flag) ? renamed.at(flag) : flag.substr(2);
    for (char& c : key)
      if (c == '-') c = '_';
    const std::string typed = opt->results().empty() ? "" : opt->results().back();
    const std::string given = flag == "--projector" ? (typed == "mlp" ? "true" : "false") : typed;
    const nlohmann::json* value = find_key(recorded, key);
    const std::string keeps = "a resumed run keeps the options it started with (only " + allowed + " may be given anew)";
    if (!value) fail(flag + ": " + keeps);
    if (same_value(*value, given, opt->get_type_size() == 0)) continue;
    std::string msg = flag + " " + typed + ": the run was started with " + value->dump() + "; " + keeps;
    if (key == "steps" || key == "epochs") msg += "; a run cannot be extended: its learning-rate schedule ends at its last step";
    fail(msg);
  }
}

void check_run_out(const CLI::App& command, bool resume, const std::filesystem::path& out,
                   const std::filesystem::path& record, OutputKind kind, const std::vector<std::filesystem::path>& inputs,
                   const std::set<std::string>& may_change) {
  if (!resume) return check_output(out, kind, {"--out", inputs, false, true});
  const auto config = record / "config.json";
  if (!std::filesystem::exists(config))
    fail(out.string() + ": no run to resume (" + config.lexically_relative(out).string() + " not found)");
  check_resumed_flags(command, read_run_config(record).value("options", nlohmann::json::object()), may_change);
}

}  // namespace userllm::cli
