// `userllm evaluate --run RUN`: the task metrics and per-request cost of a
// fine-tuned User-LLM run, printed as one JSON object and kept as RUN/eval-SPLIT.json.
#include <nlohmann/json.hpp>

#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "common/atomic_file.h"
#include "common/error.h"
#include "eval/evaluate.h"
#include "train/finetune.h"

namespace userllm::cli {
namespace {

struct EvaluateArgs {
  std::string run, split = "test", device;
  eval::EvaluateOptions o;
};

data::Split parse_eval_split(const std::string& s) {
  if (s == "test") return data::Split::kTest;
  if (s == "validation") return data::Split::kValidation;
  fail("--split must be test or validation, got \"" + s + "\"");
}

void run_evaluate(const EvaluateArgs& a) {
  const data::Split split = parse_eval_split(a.split);
  train::LoadedRun r = train::load_run(a.run, a.device);
  const tasks::TaskOptions t = train::task_options(r.options);
  const data::GroundTruth* gt = r.ground_truth ? &*r.ground_truth : nullptr;
  auto examples = tasks::build_examples(*r.dataset, t, split, gt);
  nlohmann::json out =
      eval::evaluate(r.model, *r.dataset, r.events.get(), *r.tokenizer, t.kind, examples, r.prompt, a.o, gt);
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
  c->add_option("--device", a->device, "cpu or cuda (default: the run's)");
  c->callback([a] { run_evaluate(*a); });
}

}  // namespace userllm::cli
