#include "train/finetune.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <optional>
#include <random>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/metrics.h"
#include "common/progress.h"
#include "common/run_dir.h"
#include "common/schedule.h"
#include "dist/gradient_reducer.h"
#include "dist/world.h"
#include "encoder/batch.h"
#include "encoder/checkpoint.h"
#include "llm/checkpoint.h"
#include "llm/threads.h"
#include "train/finetune_internal.h"

namespace userllm::train {

namespace fs = std::filesystem;

fs::path tokenizer_path(const FinetuneOptions& o) {
  if (!o.tokenizer.empty()) return o.tokenizer;
  if (fs::is_directory(o.llm)) return o.llm;
  fs::path beside = fs::path(o.llm).parent_path() / "tokenizer.bin";
  if (!fs::exists(beside)) fail("--llm " + o.llm + " is a llama2.c file with no tokenizer.bin beside it: pass --tokenizer");
  return beside;
}

tasks::PromptOptions prompt_options(const FinetuneOptions& o, bridge::UserLlm& model) {
  const int64_t max_pos = model->llm->config().context_length();
  tasks::PromptOptions p;
  p.text_history = o.model.integration == bridge::IntegrationKind::kText;
  p.context = o.context > 0 ? o.context : max_pos;
  if (p.context > max_pos)
    fail("finetune: --context " + std::to_string(p.context) + " is more than the LLM's " + std::to_string(max_pos) +
         " positions");
  if (o.model.integration == bridge::IntegrationKind::kSoftPrompt) p.user_vectors = model->context_length(o.history);
  p.answer_reserve = o.answer_reserve > 0 ? o.answer_reserve : o.task == tasks::TaskKind::kReview ? 128 : 32;
  return p;
}

void set_train_mode(bridge::UserLlm& model) {
  model->train();
  const auto s = model->options().strategy;
  if (model->encoder && s == bridge::Strategy::kProj) model->encoder->eval();
  if (s == bridge::Strategy::kEnc || s == bridge::Strategy::kProj) model->llm->eval();
}

tasks::TaskOptions task_options(const FinetuneOptions& o) {
  tasks::TaskOptions t;
  t.kind = o.task;
  t.history = o.history;
  t.max_train_per_user = o.max_train_per_user;
  t.min_history = o.min_history;
  return t;
}

bridge::UserLlm build_model(const FinetuneOptions& o, const data::Dataset& ds, const torch::Device& device) {
  llm::LoadOptions lo;
  lo.device = device;
  llm::LlamaForCausalLM lm = llm::load_model(o.llm, lo);
  encoder::UserEncoder enc{nullptr};
  if (o.model.integration != bridge::IntegrationKind::kText) {
    enc = encoder::load_encoder(o.encoder, device);
    try {
      encoder::check_compatible(encoder::events_from(ds, enc->options().time_gap), enc->options());
    } catch (const Error& e) {
      fail("--encoder " + o.encoder + " does not fit --data " + o.data + ": " + e.what());
    }
    if (o.random_encoder) {
      torch::manual_seed(o.seed + 2);  // the same fresh weights again when the run is loaded
      enc = encoder::UserEncoder(enc->options());
      enc->to(device);
    }
  }
  torch::manual_seed(o.seed);  // the bridge's initialisation (and LoRA's) follows the seed
  bridge::UserLlm model(o.model, enc, lm);
  model->to(device);
  model->eval();
  return model;
}

namespace {

std::vector<tasks::EncodedExample> encode_all(const data::Dataset& ds, const llm::Tokenizer& tok,
                                              const std::vector<tasks::Example>& examples,
                                              const tasks::PromptOptions& p, const char* what) {
  std::vector<tasks::EncodedExample> out;
  out.reserve(examples.size());
  Progress bar(std::string("encoding ") + what + " prompts", examples.size(), "examples");
  for (const auto& ex : examples) {
    out.push_back(tasks::encode_example(ds, tok, ex, p));
    bar.add();
  }
  return out;
}

// A seeded subset of at most n examples (all when n is 0), in a fixed order.
std::vector<tasks::Example> subset(std::vector<tasks::Example> v, int64_t n, uint64_t seed) {
  if (n <= 0 || static_cast<int64_t>(v.size()) <= n) return v;
  std::mt19937_64 rng(seed ^ 0x5bd1e995ULL);
  std::shuffle(v.begin(), v.end(), rng);
  v.resize(static_cast<size_t>(n));
  return v;
}

tasks::Batch gather(const std::vector<tasks::EncodedExample>& all, const std::vector<int64_t>& picked,
                    const encoder::Events* ev, const torch::Device& device) {
  std::vector<tasks::EncodedExample> rows;
  rows.reserve(picked.size());
  for (int64_t i : picked) rows.push_back(all[static_cast<size_t>(i)]);
  return tasks::collate(rows, ev, device);
}

// Tokens the loss predicts: the mask from position 1 on (the loss's own convention).
double predicted_tokens(const tasks::Batch& b) {
  return b.loss_mask.narrow(1, 1, b.loss_mask.size(1) - 1).sum().item<double>();
}

// Mean loss per answer token over the validation examples; each rank reads its shard.
double validation_loss(bridge::UserLlm& model, const std::vector<tasks::EncodedExample>& val,
                       const encoder::Events* ev, int64_t batch_size, const torch::Device& device) {
  torch::NoGradGuard no_grad;
  model->eval();
  dist::World& world = dist::World::get();
  const auto [begin, end] = world.shard(static_cast<int64_t>(val.size()));
  double total = 0, tokens = 0;
  for (int64_t i = begin; i < end; i += batch_size) {
    std::vector<int64_t> idx(static_cast<size_t>(std::min<int64_t>(batch_size, end - i)));
    std::iota(idx.begin(), idx.end(), i);
    auto b = gather(val, idx, ev, device);
    const double n = predicted_tokens(b);
    total += model->loss(b.history, b.valid, b.ids, b.key_mask, b.loss_mask).item<double>() * n;
    tokens += n;
  }
  const auto sums = world.sum({total, tokens}, "the validation loss");
  set_train_mode(model);
  return sums[1] > 0 ? sums[0] / sums[1] : 0.0;
}

bool is_gate(const std::string& name) {
  auto ends_with = [&](const std::string& tail) {
    return name.size() >= tail.size() && name.compare(name.size() - tail.size(), tail.size(), tail) == 0;
  };
  return ends_with(".attn_gate") || ends_with(".ff_gate");
}

int64_t numel(const NamedTensors& ts) {
  int64_t n = 0;
  for (const auto& [name, t] : ts) n += t.numel();
  return n;
}

// Absolute source paths, so that load_run works from any directory.
void make_absolute(FinetuneOptions& o) {
  for (std::string* p : {&o.data, &o.encoder, &o.llm, &o.tokenizer})
    if (!p->empty()) *p = fs::absolute(*p).lexically_normal().string();
}

// Source paths relative to the run, so that a run moved together with its sources still loads.
nlohmann::json user_llm_json(const fs::path& run, const FinetuneOptions& o, const tasks::PromptOptions& p) {
  nlohmann::json options = to_json(o);
  fs::path base = fs::absolute(run).lexically_normal();
  if (base.filename().empty()) base = base.parent_path();  // "runs/r/"
  for (const char* key : {"data", "encoder", "llm", "tokenizer"}) {
    const std::string path = options.at(key).get<std::string>();
    if (!path.empty()) options[key] = fs::path(path).lexically_relative(base).string();
  }
  return {{"format", "userllm-user-llm-1"},
          {"options", options},
          {"sources", source_fingerprints(o)},
          {"prompt",
           {{"text_history", p.text_history}, {"context", p.context}, {"user_vectors", p.user_vectors},
            {"answer_reserve", p.answer_reserve}}}};
}

}  // namespace

FinetuneResult finetune(const fs::path& run, FinetuneOptions o, bool resume) {
  const fs::path rec = run / "run", ckpt = rec / "checkpoint.pt";
  if (resume) {
    const std::string device = o.device;
    const int threads = o.threads;
    const int64_t stop_after = o.stop_after;
    if (!fs::exists(rec / "config.json")) fail(run.string() + ": no run to resume (run/config.json not found)");
    const nlohmann::json config = read_run_config(rec);
    if (!config.is_object() || !config.contains("options"))
      fail((rec / "config.json").string() + ": no \"options\" (not a fine-tuning run?)");
    o = finetune_options_from_json(config.at("options"));
    o.device = device;  // the only options a resumed run may change
    o.threads = threads;
    o.stop_after = stop_after;
    if (fs::exists(run / "summary.json") && fs::exists(run / "model.safetensors")) {
      FinetuneResult done;
      done.step = o.steps;
      done.finished_before = true;
      return done;
    }
  }
  check_options(o);
  make_absolute(o);
  dist::World& world = dist::World::get();
  world.check_batch_size(o.batch_size, "");
  if (o.threads > 0) llm::set_threads(o.threads);
  const torch::Device device(o.device);
  if (!resume && (fs::exists(ckpt) || fs::exists(run / "model.safetensors")))
    fail(run.string() + ": already holds a run (use --resume to continue it, or another --out)");

  const auto ds = data::Dataset::open(o.data);
  const auto tok = llm::load_tokenizer(tokenizer_path(o));
  bridge::UserLlm model = build_model(o, ds, device);
  if (tok->vocab_size() > model->llm->config().vocab_size)
    fail("the tokenizer has " + std::to_string(tok->vocab_size()) + " tokens, more than the LLM's " +
         std::to_string(model->llm->config().vocab_size));
  std::unique_ptr<encoder::Events> ev;
  if (model->encoder) ev = std::make_unique<encoder::Events>(encoder::events_from(ds, model->encoder->options().time_gap));
  const tasks::PromptOptions prompt = prompt_options(o, model);

  const tasks::TaskOptions to = task_options(o);
  const auto train = encode_all(ds, *tok, tasks::build_examples(ds, to, data::Split::kTrain), prompt, "train");
  const auto val = encode_all(
      ds, *tok, subset(tasks::build_examples(ds, to, data::Split::kValidation), o.eval_examples, o.seed), prompt,
      "validation");
  const auto meta = nlohmann::json::parse(ds.metadata_json(), nullptr, false);
  if (train.empty() && o.task == tasks::TaskKind::kReview && meta.is_object() && !meta.value("has_text", false))
    fail("--task review: " + o.data + " has no review text (prepare a log with reviews, e.g. Amazon)");
  if (train.empty())
    fail(o.data + ": no " + std::string(tasks::task_name(o.task)) + " training examples (too few events per user?)");

  const NamedTensors trained = model->trained_parameters();
  if (trained.empty()) fail("finetune: the strategy leaves nothing to train");
  // Two groups: every trained tensor, and the gates at gate_lr_scale x lr.
  std::vector<torch::Tensor> params, others, gates;
  for (const auto& [name, t] : trained) {
    params.push_back(t);
    (is_gate(name) ? gates : others).push_back(t);
  }
  std::vector<torch::optim::OptimizerParamGroup> groups;
  std::vector<double> group_scale;
  for (auto [group, scale] : {std::pair{&others, 1.0}, std::pair{&gates, o.gate_lr_scale}})
    if (!group->empty()) {
      groups.emplace_back(*group, std::make_unique<torch::optim::AdamWOptions>(
                                      torch::optim::AdamWOptions(o.lr * scale).weight_decay(o.weight_decay)));
      group_scale.push_back(scale);
    }
  torch::optim::AdamW opt(groups, torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
  const int64_t warmup = o.warmup >= 0 ? o.warmup : std::min<int64_t>(o.steps / 10, 100);
  const int64_t ckpt_every = o.checkpoint_every > 0 ? o.checkpoint_every : o.eval_every > 0 ? o.eval_every : o.steps;

  int64_t step = 0;
  FinetuneResult result;
  torch::manual_seed(o.seed + 1);  // dropout's stream; the checkpoint carries it on
  if (resume) {
    const auto spec = nlohmann::json::parse(read_file(run / "user_llm.json"), nullptr, false);
    if (spec.is_discarded() || !spec.contains("sources")) fail((run / "user_llm.json").string() + ": unreadable");
    check_source_fingerprints(spec.at("sources"), o, (run / "user_llm.json").string());
    step = load_checkpoint(ckpt, trained, opt);
    if (step > o.steps) fail(ckpt.string() + ": step " + std::to_string(step) + " is past the run's " + std::to_string(o.steps));
    if (world.main()) truncate_jsonl(run / "metrics.jsonl", step);
    result.last_loss = last_train_loss(run / "metrics.jsonl", step);  // killed after its last checkpoint
  } else {
    world.on_main("creating the run", [&] {
      fs::create_directories(rec);
      write_run_config(rec, to_json(o), {{"distributed", world.record()}});
      write_file_atomic(run / "user_llm.json", user_llm_json(run, o, prompt).dump(2) + "\n");
      fs::remove(run / "metrics.jsonl");
    });
  }
  std::optional<MetricsLog> metrics;
  if (world.main()) metrics.emplace(run / "metrics.jsonl");
  // Every rank starts from rank 0's parameters; their gradients are summed as backward runs.
  world.broadcast(params, "the initial parameters");
  dist::GradientReducer reducer(world, params);

  result.trained_parameters = numel(trained);
  for (const auto& p : model->parameters()) result.total_parameters += p.numel();
  const auto t_start = std::chrono::steady_clock::now();
  Progress bar(std::string("finetune ") + bridge::integration_name(o.model.integration), o.steps, "steps");
  bar.set(step);
  auto validate = [&](int64_t at) {
    if (val.empty()) return;
    result.val_loss = validation_loss(model, val, ev.get(), o.batch_size, device);
    if (metrics) metrics->write({{"step", at}, {"split", "validation"}, {"loss", result.val_loss}});
  };
  set_train_mode(model);
  auto t0 = std::chrono::steady_clock::now();
  int64_t examples_since = 0;
  while (step < o.steps) {
    const double lr = warmup_cosine_lr(o.lr, o.min_lr_ratio, warmup, step, o.steps);
    for (size_t g = 0; g < group_scale.size(); ++g)
      static_cast<torch::optim::AdamWOptions&>(opt.param_groups()[g].options()).lr(lr * group_scale[g]);
    world.set_step(step + 1);
    if (world.distributed()) torch::manual_seed(dist::step_seed(o.seed + 1, world.rank(), step));  // dropout
    const auto batch = batch_indices(static_cast<int64_t>(train.size()), step, o.batch_size, o.seed);
    const auto [first, last] = world.shard(static_cast<int64_t>(batch.size()));
    const std::vector<int64_t> picked(batch.begin() + first, batch.begin() + last);
    auto b = gather(train, picked, ev.get(), device);
    auto loss = model->loss(b.history, b.valid, b.ids, b.key_mask, b.loss_mask);
    // This rank's share of the whole batch's mean: its tokens over all ranks' tokens.
    double share = 1.0;
    if (world.distributed()) {
      const double mine = predicted_tokens(b);
      share = mine / world.sum(mine, "the token count");
    }
    opt.zero_grad();
    (share == 1.0 ? loss : loss * share).backward();
    reducer.finish();
    const double grad_norm = torch::nn::utils::clip_grad_norm_(params, o.clip);
    opt.step();
    ++step;
    examples_since += static_cast<int64_t>(batch.size());
    result.last_loss = world.distributed() ? world.sum(loss.item<double>() * share, "the loss") : loss.item<double>();
    if (!std::isfinite(result.last_loss))
      fail("finetune: the loss became " + std::to_string(result.last_loss) + " at step " + std::to_string(step) +
           " (try a lower --lr)");
    if (step % o.log_every == 0 || step == o.steps) {
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (metrics)
        metrics->write({{"step", step}, {"loss", result.last_loss}, {"lr", lr}, {"grad_norm", grad_norm},
                        {"examples_per_s", secs > 0 ? examples_since / secs : 0.0}});
      t0 = std::chrono::steady_clock::now();
      examples_since = 0;
    }
    bar.set(step);
    bar.set_note("loss " + std::to_string(result.last_loss).substr(0, 6));
    if (o.stop_after > 0 && step >= o.stop_after && step < o.steps) {
      result.step = step;
      return result;  // as if killed: nothing past the last checkpoint
    }
    if (o.eval_every > 0 && step % o.eval_every == 0 && step < o.steps) validate(step);
    if (step % ckpt_every == 0 || step == o.steps)
      world.on_main("writing the checkpoint", [&] { save_checkpoint(ckpt, trained, opt, step); });
  }
  bar.finish();
  result.step = step;
  validate(step);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  world.on_main("writing the model", [&] {
    llm::TensorMap out;
    for (const auto& [name, t] : trained) out[name] = t.detach();
    llm::write_safetensors(run / "model.safetensors", out);
    write_file_atomic(run / "summary.json",
                      nlohmann::json{{"steps", step},
                                     {"train_loss", result.last_loss},
                                     {"val_loss", result.val_loss},
                                     {"train_examples", train.size()},
                                     {"val_examples", val.size()},
                                     {"trained_parameters", result.trained_parameters},
                                     {"total_parameters", result.total_parameters},
                                     {"integration", bridge::integration_name(o.model.integration)},
                                     {"strategy", bridge::strategy_name(o.model.strategy)},
                                     {"task", tasks::task_name(o.task)},
                                     {"seconds", secs},
                                     {"world_size", world.size()}}
                              .dump(2) + "\n");
  });
  return result;
}

}  // namespace userllm::train
