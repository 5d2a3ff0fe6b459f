// Rebuilding a fine-tuned run: the frozen parts from the sources user_llm.json
// names, the trained parts from model.safetensors.
#include "common/atomic_file.h"
#include "common/error.h"
#include "llm/checkpoint.h"
#include "train/finetune.h"
#include "train/finetune_internal.h"

namespace userllm::train {

namespace fs = std::filesystem;

LoadedRun load_run(const fs::path& run, const std::string& device) {
  const fs::path spec = run / "user_llm.json", weights = run / "model.safetensors";
  if (!fs::exists(spec)) fail(spec.string() + ": not found (is '" + run.string() + "' a fine-tuning run?)");
  if (!fs::exists(weights))
    fail(weights.string() + ": not found (the run has not finished: `userllm finetune --resume --out " +
         run.string() + "`)");
  auto j = nlohmann::json::parse(read_file(spec), nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("format", "") != "userllm-user-llm-1" || !j.contains("options") ||
      !j.contains("sources"))
    fail(spec.string() + ": not a userllm user_llm.json");
  LoadedRun r;
  try {
    r.options = finetune_options_from_json(j.at("options"));
  } catch (const Error& e) {
    fail(spec.string() + ": " + e.what());
  }
  if (!device.empty()) r.options.device = device;
  check_options(r.options);  // the sources may have moved since training
  check_source_fingerprints(j.at("sources"), r.options, spec.string());
  const torch::Device dev(r.options.device);

  r.dataset = std::make_unique<data::Dataset>(data::Dataset::open(r.options.data));
  r.tokenizer = llm::load_tokenizer(tokenizer_path(r.options));
  r.model = build_model(r.options, *r.dataset, dev);
  r.model->load_trained(llm::read_safetensors(weights), weights.string());
  r.model->eval();
  if (r.model->encoder)
    r.events = std::make_unique<encoder::Events>(encoder::events_from(*r.dataset, r.model->encoder->options().time_gap));
  r.prompt = prompt_options(r.options, r.model);
  const auto& p = j.value("prompt", nlohmann::json::object());
  if (p.value("context", int64_t(-1)) != r.prompt.context || p.value("user_vectors", int64_t(-1)) != r.prompt.user_vectors ||
      p.value("answer_reserve", int64_t(-1)) != r.prompt.answer_reserve)
    fail(spec.string() + ": its prompt layout does not match the model its sources build (did the LLM change?)");
  r.ground_truth = data::read_ground_truth(*r.dataset, r.options.data);
  return r;
}

}  // namespace userllm::train
