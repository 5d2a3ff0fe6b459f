// FinetuneOptions <-> JSON (run/config.json and user_llm.json) and the checks
// that turn a bad flag into a clear message before any work starts.
#include <cmath>

#include "common/error.h"
#include "common/json_int.h"
#include "train/finetune.h"
#include "train/finetune_internal.h"

namespace userllm::train {

nlohmann::json to_json(const FinetuneOptions& o) {
  return {{"data", o.data}, {"encoder", o.encoder}, {"llm", o.llm}, {"tokenizer", o.tokenizer},
          {"task", tasks::task_name(o.task)}, {"history", o.history}, {"max_train_per_user", o.max_train_per_user},
          {"min_history", o.min_history}, {"random_encoder", o.random_encoder},
          {"model", bridge::to_json(o.model)}, {"context", o.context}, {"answer_reserve", o.answer_reserve},
          {"steps", o.steps}, {"batch_size", o.batch_size}, {"lr", o.lr}, {"min_lr_ratio", o.min_lr_ratio},
          {"gate_lr_scale", o.gate_lr_scale}, {"weight_decay", o.weight_decay}, {"clip", o.clip}, {"warmup", o.warmup}, {"seed", o.seed},
          {"eval_every", o.eval_every}, {"eval_examples", o.eval_examples},
          {"checkpoint_every", o.checkpoint_every}, {"log_every", o.log_every}, {"device", o.device},
          {"threads", o.threads}};
}

FinetuneOptions finetune_options_from_json(const nlohmann::json& j) {
  FinetuneOptions o;
  try {
    o.data = j.at("data");
    o.encoder = j.at("encoder");
    o.llm = j.at("llm");
    o.tokenizer = j.at("tokenizer");
    o.task = tasks::parse_task(j.at("task").get<std::string>());
    o.history = j.at("history");
    o.max_train_per_user = j.at("max_train_per_user");
    o.min_history = json_int_or<int>(j, "min_history", 1, "min_history");  // runs made before these options existed
    o.random_encoder = j.value("random_encoder", false);
    o.model = bridge::user_llm_options_from_json(j.at("model"));
    o.context = j.at("context");
    o.answer_reserve = j.at("answer_reserve");
    o.steps = j.at("steps");
    o.batch_size = j.at("batch_size");
    o.lr = j.at("lr");
    o.min_lr_ratio = j.at("min_lr_ratio");
    o.gate_lr_scale = j.value("gate_lr_scale", 1.0);  // runs made before the option existed
    o.weight_decay = j.at("weight_decay");
    o.clip = j.at("clip");
    o.warmup = j.at("warmup");
    o.seed = j.at("seed");
    o.eval_every = j.at("eval_every");
    o.eval_examples = j.at("eval_examples");
    o.checkpoint_every = j.at("checkpoint_every");
    o.log_every = j.at("log_every");
    o.device = j.at("device");
    o.threads = j.at("threads");
  } catch (const nlohmann::json::exception& e) {
    fail(std::string("finetune options: ") + e.what());
  }
  return o;
}

void check_options(const FinetuneOptions& o, const std::string& who) {
  auto need = [&](bool ok, const std::string& what) {
    if (!ok) fail(who + ": " + what);
  };
  namespace fs = std::filesystem;
  need(!o.data.empty(), "--data is required");
  need(fs::is_directory(o.data), "--data " + o.data + ": not a directory");
  need(!o.llm.empty(), "--llm is required");
  need(fs::exists(o.llm), "--llm " + o.llm + ": not found");
  need(o.tokenizer.empty() || fs::exists(o.tokenizer), "--tokenizer " + o.tokenizer + ": not found");
  o.model.validate();  // text with enc/proj, a Perceiver without an encoder, ...
  if (o.model.integration != bridge::IntegrationKind::kText) {
    need(!o.encoder.empty(), "--encoder is required by the " +
                                 std::string(bridge::integration_name(o.model.integration)) + " integration");
    need(fs::exists(fs::path(o.encoder) / "encoder.json"),
         "--encoder " + o.encoder + ": not an encoder run (no encoder.json)");
  }
  need(o.history >= 1, "--history must be >= 1");
  need(o.min_history >= 1, "--min-history must be >= 1");
  need(!o.random_encoder || o.model.integration != bridge::IntegrationKind::kText,
       "--random-encoder needs an integration that reads the encoder");
  need(o.max_train_per_user >= 0, "--max-train-per-user must be >= 0");
  need(o.context >= 0, "--context must be >= 0 (0 = the LLM's maximum)");
  need(o.answer_reserve >= 0, "--answer-reserve must be >= 0");
  need(o.steps >= 1, "--steps must be >= 1");
  need(o.batch_size >= 1, "--batch-size must be >= 1");
  need(o.lr > 0 && std::isfinite(o.lr), "--lr must be > 0");
  need(o.min_lr_ratio >= 0 && o.min_lr_ratio <= 1, "min_lr_ratio must be in [0, 1]");
  need(o.weight_decay >= 0, "weight_decay must be >= 0");
  need(o.gate_lr_scale > 0 && std::isfinite(o.gate_lr_scale), "--gate-lr-scale must be > 0");
  need(o.clip > 0, "--clip must be > 0");
  need(o.eval_every >= 0 && o.eval_examples >= 0 && o.checkpoint_every >= 0, "--eval-every, --eval-examples and --checkpoint-every must be >= 0");
  need(o.log_every >= 1, "--log-every must be >= 1");
  need(o.device == "cpu" || o.device == "cuda" || o.device.rfind("cuda:", 0) == 0,
       "--device must be cpu or cuda, not \"" + o.device + "\"");
  need(o.threads >= 0, "--threads must be >= 0");
  need(o.stop_after >= 0, "--stop-after must be >= 0");
}

}  // namespace userllm::train
