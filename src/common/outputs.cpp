#include "common/outputs.h"

#include <set>

#include "common/error.h"

namespace userllm {
namespace {

namespace fs = std::filesystem;

bool has(const fs::path& dir, const char* name) {
  std::error_code ec;
  return fs::exists(dir / name, ec);
}

// The files datasets and runs are made of: never the target of another command's output.
bool is_member_name(const std::string& name) {
  static const std::set<std::string> names = {
      "events.bin",       "config.json",     "ground_truth.json",     "ratings.csv",     "movies.csv",
      "encoder.json",     "checkpoint.pt",   "metrics.jsonl",         "summary.json",    "user_llm.json",
      "model.safetensors", "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json",
      "tokenizer.model",  "tokenizer.bin",   "index.html",            "users.sqlite",    "eval-test.json",
      "eval-validation.json"};
  return names.count(name) > 0;
}

bool is_within(const fs::path& inner, const fs::path& outer) {
  auto i = inner.begin();
  for (auto o = outer.begin(); o != outer.end(); ++o, ++i)
    if (i == inner.end() || *i != *o) return false;
  return true;
}

fs::path resolved(const fs::path& p) {
  std::error_code ec;
  fs::path r = fs::weakly_canonical(fs::absolute(p), ec);
  return ec ? fs::absolute(p).lexically_normal() : r;
}

bool is_run_or_dataset(OutputKind k) { return k != OutputKind::kNone && k != OutputKind::kOther && k != OutputKind::kFile; }

}  // namespace

const char* output_kind_name(OutputKind kind) {
  switch (kind) {
    case OutputKind::kFile: return "a file";
    case OutputKind::kDataset: return "a prepared dataset";
    case OutputKind::kCsvLog: return "a MovieLens CSV log";
    case OutputKind::kEncoderRun: return "an encoder run";
    case OutputKind::kModel: return "a model directory";
    case OutputKind::kLmRun: return "an LM pretraining run";
    case OutputKind::kFinetuneRun: return "a fine-tuned run";
    case OutputKind::kReport: return "a report";
    case OutputKind::kDemo: return "a demo directory";
    case OutputKind::kOther: return "other files";
    case OutputKind::kNone: return "nothing";
  }
  return "?";
}

OutputKind output_kind_of(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return OutputKind::kNone;
  if (!fs::is_directory(path, ec)) return OutputKind::kFile;
  if (fs::is_empty(path, ec)) return OutputKind::kNone;
  if (has(path, "user_llm.json")) return OutputKind::kFinetuneRun;
  if (has(path, "encoder.json")) return OutputKind::kEncoderRun;
  if (has(path, "events.bin")) return OutputKind::kDataset;
  if (has(path, "ratings.csv")) return OutputKind::kCsvLog;
  if (has(path, "index.html")) return OutputKind::kReport;
  if (has(path, ".done")) return OutputKind::kDemo;
  if (has(path, "run/config.json") && has(path, "tokenizer.json")) return OutputKind::kLmRun;
  if (has(path, "config.json") && (has(path, "model.safetensors") || has(path, "model.safetensors.index.json")))
    return OutputKind::kModel;
  return OutputKind::kOther;
}

void check_output(const fs::path& out, OutputKind kind, const OutputCheck& check) {
  const std::string shown = check.flag + " " + out.string();
  const fs::path target = resolved(out);
  for (const auto& in : check.inputs) {
    if (in.empty()) continue;
    const fs::path input = resolved(in);
    if (input == target) fail(shown + ": is an input of this command; choose another " + check.flag);
    if (is_within(input, target))
      fail(shown + ": holds " + in.string() + ", an input of this command; choose another " + check.flag);
  }
  const OutputKind have = output_kind_of(out);
  if (have == OutputKind::kNone) return;
  if (kind == OutputKind::kFile) {
    if (have != OutputKind::kFile) fail(shown + ": is a directory; " + check.flag + " names the file to write");
    const fs::path dir = target.parent_path();
    OutputKind owner = output_kind_of(dir);
    if (!is_run_or_dataset(owner) && dir.filename() == "run") owner = output_kind_of(dir.parent_path());
    if (is_run_or_dataset(owner) && is_member_name(target.filename().string()))
      fail(shown + ": belongs to " + std::string(output_kind_name(owner)) + " (" + dir.string() + "); choose another " +
           check.flag);
    if (!check.overwrite) fail(shown + ": exists; pass --overwrite to replace it, or choose another " + check.flag);
    return;
  }
  if (have != kind) {
    const std::string what = have == OutputKind::kFile ? "is a file" : "holds " + std::string(output_kind_name(have));
    fail(shown + ": " + what + ", not " + output_kind_name(kind) + "; choose another " + check.flag);
  }
  if (check.resumable) return;  // the trainer continues it with --resume, or refuses
  if (!check.overwrite)
    fail(shown + ": already holds " + std::string(output_kind_name(kind)) + "; pass --overwrite to replace it, or choose another " +
         check.flag);
}

}  // namespace userllm
