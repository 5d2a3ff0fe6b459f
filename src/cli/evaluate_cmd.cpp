// `userllm evaluate --run RUN`: the task metrics and per-request cost of a
// fine-tuned User-LLM run, printed as one JSON object and kept as RUN/eval-SPLIT.json.
#include <nlohmann/json.hpp>

#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "common/atomic_file.h"
#include "common/error.h"
#include "common/outputs.h"
#include "eval/evaluate.h"
#include "llm/device.h"
#include "train/finetune.h"

namespace userllm::cli {
namespace {

struct EvaluateArgs {
  std::string run, split = "test", device, predictions;
  bool overwrite = false;
  train::SourceOverrides sources;
  eval::EvaluateOptions o;
};

data::Split parse_eval_split(const std::string& s) {
  if (s == "test") return data::Split::kTest;
  if (s == "validation") return data::Split::kValidation;
  fail("--split must be test or validation, got \"" + s + "\"");
}

void run_evaluate(const EvaluateArgs& a) {
  if (!a.device.empty()) llm::parse_device(a.device);
  if (!a.predictions.empty())
    check_output(a.predictions, OutputKind::kFile, {"--predictions", {a.run}, a.overwrite});
  const data::Split split = parse_eval_split(a.split);
  train::LoadedRun r = train::load_run(a.run, a.device, a.sources);
  const tasks::TaskOptions t = train::task_options(r.options);
  const data::GroundTruth* gt = r.ground_truth ? &*r.ground_truth : nullptr;
  auto examples = tasks::build_examples(*r.dataset, t, split, gt);
  std::vector<nlohmann::json> predictions;
  eval::EvaluateOptions o = a.o;
  if (!a.predictions.empty()) o.predictions = &predictions;
  nlohmann::json out =
      eval::evaluate(r.model, *r.dataset, r.events.get(), *r.tokenizer, t.kind, examples, r.prompt, o, gt);
  if (!a.predictions.empty()) {
    std::string lines;
    for (const auto& p : predictions) lines += p.dump() + "\n";
    write_file_atomic(a.predictions, lines);
  }
  out["split"] = a.split;
  out["run"] = a.run;
  std::string text = out.dump();
  write_file_atomic(std::filesystem::path(a.run) / ("eval-" + a.split + ".json"), text + "\n");
  std::cout << text << std::endl;
}

}  // namespace

void add_evaluate_commands(CLI::App& app) {
  auto a = std::make_shared<EvaluateArgs>();
  auto* c = app.add_subcommand("evaluate", "task metrics and per-request cost of a fine-tuned run (JSON on stdout)");
  c->add_option("--run", a->run, "run directory written by `userllm finetune`")->required();
  c->add_option("--split", a->split, "test or validation")->capture_default_str();
  c->add_option("--max-examples", a->o.max_examples, "evaluate this many examples, picked by --seed (0: all)")
      ->capture_default_str();
  c->add_option("--beam", a->o.beam, "beam width of the constrained decoding")->capture_default_str();
  c->add_option("--candidates", a->o.candidates, "next item: HitRatio@1 among this many candidates")
      ->capture_default_str();
  c->add_option("--max-new-tokens", a->o.max_new_tokens, "review: greedy generation length")->capture_default_str();
  c->add_option("--latency-requests", a->o.latency_requests, "requests timed for latency_ms")->capture_default_str();
  c->add_option("--seed", a->o.seed, "seed of the example sample and the negatives")->capture_default_str();
  c->add_option("--device", a->device, "cpu, cuda or cuda:N (default: the run's)");
  c->add_option("--predictions", a->predictions,
                "also write one JSON line per example: user, input, history_events, target, prediction, score");
  c->add_flag("--overwrite", a->overwrite, "replace an existing --predictions file");
  add_source_flags(c, a->sources);
  c->callback([a] { run_evaluate(*a); });
}

}  // namespace userllm::cli
