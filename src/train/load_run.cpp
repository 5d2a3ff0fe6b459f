// Rebuilding a fine-tuned run: the frozen parts from the sources user_llm.json
// names, the trained parts from model.safetensors.
#include "common/atomic_file.h"
#include "common/error.h"
#include "common/json_int.h"
#include "llm/checkpoint.h"
#include "llm/device.h"
#include "train/finetune.h"
#include "train/finetune_internal.h"

namespace userllm::train {

namespace fs = std::filesystem;

namespace {

nlohmann::json read_spec(const fs::path& spec, const fs::path& run) {
  if (!fs::exists(spec)) fail(spec.string() + ": not found (is '" + run.string() + "' a fine-tuning run?)");
  auto j = nlohmann::json::parse(read_file(spec), nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("format", "") != "userllm-user-llm-1" || !j.contains("options") ||
      !j.contains("sources"))
    fail(spec.string() + ": not a userllm user_llm.json");
  return j;
}

FinetuneOptions options_of(const nlohmann::json& j, const fs::path& spec, const fs::path& run,
                           const SourceOverrides& overrides) {
  FinetuneOptions o;
  try {
    o = finetune_options_from_json(j.at("options"));
  } catch (const Error& e) {
    fail(spec.string() + ": " + e.what());
  }
  const fs::path base = fs::absolute(run);
  for (auto [path, override] : {std::pair{&o.data, &overrides.data}, std::pair{&o.encoder, &overrides.encoder},
                                std::pair{&o.llm, &overrides.llm}, std::pair{&o.tokenizer, (const std::string*)nullptr}}) {
    if (override && !override->empty())
      *path = fs::absolute(*override).lexically_normal().string();
    else if (!path->empty() && fs::path(*path).is_relative())
      *path = (base / *path).lexically_normal().string();
  }
  return o;
}

}  // namespace

FinetuneOptions read_run_options(const fs::path& run, const SourceOverrides& overrides) {
  const fs::path spec = run / "user_llm.json";
  return options_of(read_spec(spec, run), spec, run, overrides);
}

LoadedRun load_run(const fs::path& run, const std::string& device, const SourceOverrides& overrides) {
  const fs::path spec = run / "user_llm.json", weights = run / "model.safetensors";
  const auto j = read_spec(spec, run);
  if (!fs::exists(weights))
    fail(weights.string() + ": not found (the run has not finished: `userllm finetune --resume --out " +
         run.string() + "`)");
  LoadedRun r;
  r.options = options_of(j, spec, run, overrides);
  const torch::Device dev = llm::parse_device(device.empty() ? r.options.device : device,
                                              device.empty() ? run.string() + " (trained on) --device" : "--device");
  if (!device.empty()) r.options.device = device;
  check_options(r.options, spec.string() + " records");  // the sources may have moved since training
  check_source_fingerprints(j.at("sources"), r.options, spec.string());

  r.dataset = std::make_unique<data::Dataset>(data::Dataset::open(r.options.data));
  r.tokenizer = llm::load_tokenizer(tokenizer_path(r.options));
  r.model = build_model(r.options, *r.dataset, dev);
  r.model->load_trained(llm::read_safetensors(weights), weights.string());
  r.model->eval();
  if (r.model->encoder)
    r.events = std::make_unique<encoder::Events>(encoder::events_from(*r.dataset, r.model->encoder->options().time_gap));
  r.prompt = prompt_options(r.options, r.model);
  const auto& p = j.value("prompt", nlohmann::json::object());
  auto recorded = [&](const char* key) { return json_int_or<int64_t>(p, key, -1, spec.string() + ": prompt." + key); };
  if (recorded("context") != r.prompt.context || recorded("user_vectors") != r.prompt.user_vectors ||
      recorded("answer_reserve") != r.prompt.answer_reserve)
    fail(spec.string() + ": its prompt layout does not match the model its sources build (did the LLM change?)");
  r.ground_truth = data::read_ground_truth(*r.dataset, r.options.data);
  return r;
}

}  // namespace userllm::train
