#include "encoder/pretrain.h"

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
#include "data/dataset.h"
#include "dist/gradient_reducer.h"
#include "dist/world.h"
#include "encoder/batch.h"
#include "encoder/checkpoint.h"
#include "encoder/evaluate.h"
#include "encoder/loss.h"

namespace userllm::encoder {

nlohmann::json to_json(const PretrainOptions& o) {
  return {{"model", to_json(o.model)},
          {"steps", o.steps},
          {"epochs", o.epochs},
          {"batch_size", o.batch_size},
          {"lr", o.lr},
          {"min_lr_ratio", o.min_lr_ratio},
          {"weight_decay", o.weight_decay},
          {"clip", o.clip},
          {"warmup", o.warmup},
          {"stride", o.stride},
          {"seed", o.seed},
          {"eval_every", o.eval_every},
          {"eval_users", o.eval_users},
          {"checkpoint_every", o.checkpoint_every},
          {"log_every", o.log_every},
          {"sampled_negatives", o.sampled_negatives},
          {"field_weights", o.field_weights},
          {"device", o.device},
          {"threads", o.threads}};
}

PretrainOptions pretrain_options_from_json(const nlohmann::json& j) {
  PretrainOptions o;
  try {
    o.model = options_from_json(j.at("model"));
    o.steps = j.at("steps");
    o.epochs = j.at("epochs");
    o.batch_size = j.at("batch_size");
    o.lr = j.at("lr");
    o.min_lr_ratio = j.at("min_lr_ratio");
    o.weight_decay = j.at("weight_decay");
    o.clip = j.at("clip");
    o.warmup = j.at("warmup");
    o.stride = j.at("stride");
    o.seed = j.at("seed");
    o.eval_every = j.at("eval_every");
    o.eval_users = j.at("eval_users");
    o.checkpoint_every = j.at("checkpoint_every");
    o.log_every = j.at("log_every");
    o.sampled_negatives = j.at("sampled_negatives");
    o.field_weights = j.at("field_weights").get<std::vector<double>>();
    o.device = j.at("device");
    o.threads = j.at("threads");
  } catch (const nlohmann::json::exception& e) {
    fail(std::string("pretrain options: ") + e.what());
  }
  return o;
}

double learning_rate(const PretrainOptions& o, int64_t step, int64_t total) {
  return warmup_cosine_lr(o.lr, o.min_lr_ratio, o.warmup, step, total);
}

namespace {

void check_options(const PretrainOptions& o, const Events& ev) {
  if (o.batch_size < 1) fail("pretrain: --batch-size must be >= 1");
  if (!(o.lr > 0)) fail("pretrain: --lr must be > 0");
  if (o.steps < 0 || o.epochs < 0) fail("pretrain: --steps and --epochs must be >= 0");
  if (o.steps == 0 && o.epochs == 0) fail("pretrain: give --steps or --epochs");
  if (!o.field_weights.empty() && o.field_weights.size() != o.model.fields.size())
    fail("pretrain: " + std::to_string(o.field_weights.size()) + " field weights for " +
         std::to_string(o.model.fields.size()) + " fields");
  if (o.log_every < 1) fail("pretrain: log_every must be >= 1");
  if (o.sampled_negatives < 0) fail("pretrain: --sampled-softmax must be >= 0");
  check_compatible(ev, o.model);
}

// The windows of optimiser step `step` (common/schedule.h).
std::vector<Span> batch_at(const std::vector<Span>& windows, int64_t step, int64_t batch_size, uint64_t seed) {
  std::vector<Span> out;
  for (int64_t i : batch_indices(static_cast<int64_t>(windows.size()), step, batch_size, seed))
    out.push_back(windows[static_cast<size_t>(i)]);
  return out;
}

// Each field's share of the whole batch's targets (PAD excluded) held by this rank.
std::vector<double> field_shares(dist::World& world, const torch::Tensor& targets) {
  const auto counts = targets.ne(static_cast<int64_t>(data::kPadId))
                          .sum(std::vector<int64_t>{0, 1})
                          .to(torch::kCPU, torch::kDouble)
                          .contiguous();
  std::vector<double> mine(counts.data_ptr<double>(), counts.data_ptr<double>() + counts.numel());
  const std::vector<double> all = world.sum(mine, "the target counts");
  for (size_t f = 0; f < mine.size(); ++f) mine[f] = all[f] > 0 ? mine[f] / all[f] : 0.0;
  return mine;
}

// log q(j) of the sampled-softmax proposal: train-event item frequencies, +1 smoothed.
torch::Tensor item_log_q(const Events& ev, int item) {
  std::vector<double> counts(ev.field_vocab[item], 1.0);
  for (uint32_t u = 0; u < ev.num_users(); ++u)
    for (uint64_t e = ev.offsets[u]; e < ev.train_end[u]; ++e) counts[ev.event(e)[item]] += 1.0;
  auto t = torch::tensor(counts, torch::kDouble);
  return (t / t.sum()).log().to(torch::kFloat);
}

}  // namespace

PretrainResult pretrain(const Events& ev, const std::filesystem::path& run, PretrainOptions o, bool resume) {
  if (resume) {
    const std::string device = o.device;
    const int threads = o.threads;
    o = pretrain_options_from_json(read_run_config(run).at("options"));
    o.device = device;  // the only options a resumed run may change
    o.threads = threads;
  }
  check_options(o, ev);
  dist::World& world = dist::World::get();
  world.check_batch_size(o.batch_size, "pretrain: ");
  if (o.threads > 0) torch::set_num_threads(o.threads);
  const torch::Device device(o.device);
  const int64_t length = o.model.max_len + 1;  // max_len inputs and their next events
  const auto windows = training_windows(ev, length, o.stride > 0 ? o.stride : std::max(1, o.model.max_len / 2));
  if (windows.empty()) fail("pretrain: no user has 2 or more train events");
  const int64_t per_epoch = (static_cast<int64_t>(windows.size()) + o.batch_size - 1) / o.batch_size;
  const int64_t total = o.steps > 0 ? o.steps : std::max<int64_t>(1, std::llround(o.epochs * per_epoch));
  const int64_t ckpt_every = o.checkpoint_every > 0 ? o.checkpoint_every : o.eval_every > 0 ? o.eval_every : total;

  torch::manual_seed(o.seed);
  UserEncoder model(o.model);
  model->to(device);
  torch::optim::AdamW opt(model->parameters(), torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
  LossOptions lo;
  lo.field_weights = o.field_weights;
  lo.sampled_negatives = o.sampled_negatives;
  const int item = o.model.item_field();
  if (o.sampled_negatives > 0) {
    if (item < 0) fail("pretrain: --sampled-softmax needs an 'item' field");
    lo.item_log_q = item_log_q(ev, item).to(device);
  }

  int64_t step = 0;
  if (resume) {
    step = load_checkpoint(run, model, &opt);
    if (step > total) fail(run.string() + ": checkpoint step " + std::to_string(step) + " is past the run's " + std::to_string(total) + " steps");
    if (step == total) {  // its last checkpoint is its result
      PretrainResult done;
      done.step = step;
      done.last_loss = last_train_loss(run / "metrics.jsonl", step);
      done.finished_before = true;
      return done;
    }
    if (world.main()) truncate_jsonl(run / "metrics.jsonl", step);
  } else {
    if (std::filesystem::exists(run / "checkpoint.pt"))
      fail(run.string() + ": already holds a run (use --resume to continue it, or another --out)");
    world.on_main("creating the run", [&] {
      std::filesystem::create_directories(run);
      write_run_config(run, to_json(o), {{"distributed", world.record()}});
      save_encoder_options(run, o.model);
      std::filesystem::remove(run / "metrics.jsonl");
    });
  }
  std::optional<MetricsLog> metrics;
  if (world.main()) metrics.emplace(run / "metrics.jsonl");
  // Every rank starts from rank 0's parameters; their gradients are summed as backward runs.
  const std::vector<torch::Tensor> params = model->parameters();
  world.broadcast(params, "the initial parameters");
  dist::GradientReducer reducer(world, params);

  auto validate = [&](int64_t at) {
    EvalOptions eo;
    eo.split = EvalSplit::kValidation;
    eo.max_users = o.eval_users;
    eo.progress = false;
    eo.sharded = true;
    auto r = evaluate(model, ev, eo, device);
    if (metrics)
      metrics->write({{"step", at},
                   {"split", "validation"},
                   {"users", r.model.users},
                   {"recall@10", r.model.recall10},
                   {"ndcg@10", r.model.ndcg10}});
    return r.model.recall10;
  };

  PretrainResult result;
  Progress bar("pretrain", total, "steps");
  bar.set(step);
  model->train();
  auto t0 = std::chrono::steady_clock::now();
  int64_t events_since = 0;
  while (step < total) {
    const double lr = learning_rate(o, step, total);
    for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
    world.set_step(step + 1);
    if (world.distributed()) torch::manual_seed(dist::step_seed(o.seed, world.rank(), step));  // dropout, negatives
    std::vector<Span> spans = batch_at(windows, step, o.batch_size, o.seed);
    const auto [first, last] = world.shard(static_cast<int64_t>(spans.size()));
    spans = std::vector<Span>(spans.begin() + first, spans.begin() + last);
    auto batch = make_batch(ev, spans, device);
    const int64_t T = batch.tokens.size(1);
    if (T < 2) fail("pretrain: a training window has fewer than 2 events");
    auto inputs = batch.tokens.narrow(1, 0, T - 1);
    auto targets = batch.tokens.narrow(1, 1, T - 1);
    if (world.distributed()) lo.field_share = field_shares(world, targets);
    auto h = model(inputs, batch.valid.narrow(1, 0, T - 1));
    auto loss = next_event_loss(model, h, targets, lo);
    opt.zero_grad();
    loss.total.backward();
    reducer.finish();
    const double grad_norm = torch::nn::utils::clip_grad_norm_(params, o.clip);
    opt.step();
    ++step;
    double events = batch.valid.sum().item<double>();
    result.last_loss = loss.total.item<double>();
    if (world.distributed()) {  // the whole batch's: each rank's values are its shares
      auto sums = loss.per_field;
      sums.push_back(result.last_loss);
      sums.push_back(events);
      sums = world.sum(sums, "the loss");
      events = sums.back();
      result.last_loss = sums[sums.size() - 2];
      loss.per_field.assign(sums.begin(), sums.end() - 2);
    }
    events_since += static_cast<int64_t>(events);
    if (!std::isfinite(result.last_loss)) fail("pretrain: the loss became " + std::to_string(result.last_loss) + " at step " + std::to_string(step) + " (try a lower --lr)");
    if (step % o.log_every == 0 || step == total) {
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      nlohmann::json rec = {{"step", step}, {"loss", result.last_loss}, {"lr", lr}, {"grad_norm", grad_norm},
                            {"events_per_s", secs > 0 ? events_since / secs : 0.0}};
      for (size_t f = 0; f < loss.per_field.size(); ++f) rec["loss_" + o.model.fields[f].name] = loss.per_field[f];
      if (metrics) metrics->write(rec);
      t0 = std::chrono::steady_clock::now();
      events_since = 0;
    }
    bar.set(step);
    bar.set_note("loss " + std::to_string(result.last_loss).substr(0, 6));
    if (o.stop_after > 0 && step >= o.stop_after && step < total) {
      result.step = step;
      return result;  // as if killed: no final checkpoint
    }
    const bool eval_now = (o.eval_every > 0 && step % o.eval_every == 0) || step == total;
    if (eval_now) {
      validate(step);
      model->train();
    }
    if (step % ckpt_every == 0 || step == total)
      world.on_main("writing the checkpoint", [&] { save_checkpoint(run, model, &opt, step); });
  }
  bar.finish();
  result.step = step;
  return result;
}

}  // namespace userllm::encoder
