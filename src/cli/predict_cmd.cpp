// `userllm predict --run RUN --user ID`: a fine-tuned run's answer for one
// user (the generated genre, review, or top titles), on the held-out event
// that `evaluate` scores for that user, with the events the model read. One
// JSON object on stdout.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "common/error.h"
#include "eval/evaluate.h"
#include "llm/device.h"
#include "train/finetune.h"

namespace userllm::cli {
namespace {

struct PredictArgs {
  std::string run, user, split = "test", device;
  train::SourceOverrides sources;
  eval::EvaluateOptions o;
};

// The events [begin, end) as the model's user reads them: item id, title, time, rating.
nlohmann::json events_json(const data::Dataset& ds, uint64_t begin, uint64_t end) {
  const int rf = ds.field_index("rating");
  nlohmann::json out = nlohmann::json::array();
  for (uint64_t i = begin; i < end; ++i) {
    const uint32_t item = ds.column(0)[i];
    nlohmann::json e = {{"item", std::string(ds.token(0, item))},
                        {"title", std::string(ds.item_title(item))},
                        {"timestamp", ds.timestamps()[i]}};
    if (rf >= 0) e["rating"] = std::string(ds.token(rf, ds.column(rf)[i]));
    out.push_back(std::move(e));
  }
  return out;
}

void run_predict(const PredictArgs& a) {
  if (!a.device.empty()) llm::parse_device(a.device);
  const data::Split split = a.split == "validation" ? data::Split::kValidation : data::Split::kTest;
  train::LoadedRun r = train::load_run(a.run, a.device, a.sources);
  const data::Dataset& ds = *r.dataset;
  const auto user = ds.find_user(a.user);
  if (!user) fail("--user " + a.user + ": not a user of the run's dataset " + r.options.data);
  const uint64_t target = ds.split_begin(*user, split);
  if (target >= ds.user_end(*user)) fail("--user " + a.user + ": no " + a.split + " event");
  const tasks::TaskOptions t = train::task_options(r.options);
  const data::GroundTruth* gt = r.ground_truth ? &*r.ground_truth : nullptr;
  const auto example = tasks::make_example(ds, t, *user, target, gt);
  if (!example)
    fail("--user " + a.user + ": the " + tasks::task_name(t.kind) + " task has nothing to ask at this user's " + a.split +
         " event (no history before it, no genre in the history, or no review text)");
  std::vector<nlohmann::json> predictions;
  eval::EvaluateOptions o = a.o;
  o.predictions = &predictions;
  o.latency_requests = 1;
  eval::evaluate(r.model, ds, r.events.get(), *r.tokenizer, t.kind, {*example}, r.prompt, o, gt);
  nlohmann::json p = predictions.at(0);
  const uint64_t read = p.at("history_events").get<uint64_t>();
  p["task"] = tasks::task_name(t.kind);
  p["split"] = a.split;
  p["history"] = events_json(ds, example->end - std::min(read, example->end - example->begin), example->end);
  std::cout << p.dump() << std::endl;
}

}  // namespace

void add_source_flags(CLI::App* c, train::SourceOverrides& sources) {
  c->add_option("--data", sources.data, "the run's prepared dataset, where it has moved (default: as recorded)");
  c->add_option("--encoder", sources.encoder, "the run's encoder run, where it has moved");
  c->add_option("--llm", sources.llm, "the run's LLM, where it has moved");
}

void add_predict_commands(CLI::App& app) {
  auto a = std::make_shared<PredictArgs>();
  auto* c = app.add_subcommand("predict", "a fine-tuned run's answer for one user, with the history it read (JSON)");
  c->add_option("--run", a->run, "run directory written by `userllm finetune`")->required();
  c->add_option("--user", a->user, "user id as in the source data")->required();
  c->add_option("--split", a->split, "which held-out event to predict: test (the last) or validation")
      ->check(CLI::IsMember({"test", "validation"}))
      ->capture_default_str();
  c->add_option("--beam", a->o.beam, "beam width of the constrained decoding")->capture_default_str();
  c->add_option("--max-new-tokens", a->o.max_new_tokens, "review: greedy generation length")->capture_default_str();
  c->add_option("--device", a->device, "cpu, cuda or cuda:N (default: the run's)");
  add_source_flags(c, a->sources);
  c->callback([a] { run_predict(*a); });
}

}  // namespace userllm::cli
