// `userllm encoder ...`: pretrain the user encoder, evaluate next-item
// ranking against popularity, write user embeddings, probe them.
#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <cstdio>
#include <iostream>
#include <map>

#include "cli/commands.h"
#include "cli/dist_options.h"
#include "cli/embedding_export.h"
#include "common/error.h"
#include "common/outputs.h"
#include "data/dataset.h"
#include "encoder/batch.h"
#include "encoder/checkpoint.h"
#include "encoder/embed.h"
#include "encoder/evaluate.h"
#include "encoder/pretrain.h"
#include "encoder/probe.h"
#include "dist/world.h"
#include "llm/device.h"

namespace userllm::cli {
namespace {

namespace fs = std::filesystem;
namespace enc = userllm::encoder;

struct PretrainArgs {
  std::string data, out, fusion = "early", device = "cpu";
  enc::PretrainOptions o;
  int item_dim = 0, field_dim = 16;
  std::vector<std::string> weights;  // name=w
  bool resume = false, no_time_gap = false;
  DistArgs dist;
};

std::vector<std::string> user_keys(const data::Dataset& ds) {
  std::vector<std::string> keys;
  for (uint32_t u = 0; u < ds.num_users(); ++u) keys.emplace_back(ds.user_key(u));
  return keys;
}

// A pretrained encoder and the dataset's events in its layout, checked to fit each other.
struct EncoderOnData {
  enc::UserEncoder model;
  enc::Events events;
};

EncoderOnData load_encoder_on(const data::Dataset& ds, const std::string& run, const torch::Device& device) {
  auto model = enc::load_encoder(run, device);
  auto events = enc::events_from(ds, model->options().time_gap);
  enc::check_compatible(events, model->options());
  return {model, std::move(events)};
}

void run_pretrain(PretrainArgs a, const CLI::App& cmd) {
  llm::parse_device(a.device);
  a.device = join_world(a.dist, a.device);
  check_run_out_on_every_rank(cmd, a.resume, a.out, a.out, OutputKind::kEncoderRun, {a.data},
                              {"--data", "--device", "--threads", "--stop-after"});
  auto ds = data::Dataset::open(a.data);
  a.o.device = a.device;
  bool time_gap = !a.no_time_gap;
  if (a.resume) time_gap = enc::load_encoder_options(a.out).time_gap;
  auto ev = enc::events_from(ds, time_gap);
  auto& m = a.o.model;
  m.fusion = enc::parse_fusion(a.fusion);
  m.time_gap = time_gap;
  m.fields = enc::fields_for(ev, a.item_dim > 0 ? a.item_dim : m.dim, a.field_dim);
  if (!a.weights.empty()) {
    a.o.field_weights.assign(m.fields.size(), 1.0);
    for (const auto& w : a.weights) {
      auto eq = w.find('=');
      int f = eq == std::string::npos ? -1 : ev.field_index(w.substr(0, eq));
      if (f < 0) fail("--field-weight '" + w + "': expected FIELD=WEIGHT with a field of the data");
      try {
        a.o.field_weights[f] = std::stod(w.substr(eq + 1));
      } catch (const std::exception&) {
        fail("--field-weight '" + w + "': the weight is not a number");
      }
    }
  }
  if (!a.resume) m.validate();
  auto r = enc::pretrain(ev, a.out, a.o, a.resume);
  if (!dist::World::get().main()) return;  // rank 0 reports
  if (r.finished_before)
    std::fprintf(stderr, "%s: finished before (%lld of %lld steps); nothing to resume\n", a.out.c_str(),
                 static_cast<long long>(r.step), static_cast<long long>(r.step));
  std::printf("%s\n", nlohmann::json({{"run", a.out}, {"step", r.step}, {"loss", r.last_loss}}).dump().c_str());
}

nlohmann::json metrics_json(const enc::RankMetrics& m) {
  return {{"recall@1", m.recall1}, {"recall@5", m.recall5}, {"recall@10", m.recall10}, {"ndcg@10", m.ndcg10}};
}

void add_pretrain(CLI::App& group) {
  auto a = std::make_shared<PretrainArgs>();
  auto* c = group.add_subcommand("pretrain", "pretrain the user encoder by next-event prediction");
  c->add_option("--data", a->data, "prepared dataset directory")->required();
  c->add_option("--out", a->out, "run directory (config.json, encoder.json, checkpoint.pt, metrics.jsonl)")->required();
  c->add_option("--fusion", a->fusion, "early: one Transformer over fused events; late: one per field")
      ->check(CLI::IsMember({"early", "late"}))
      ->capture_default_str();
  c->add_option("--layers", a->o.model.layers, "Transformer layers")->capture_default_str();
  c->add_option("--heads", a->o.model.heads, "attention heads")->capture_default_str();
  c->add_option("--dim", a->o.model.dim, "Transformer width")->capture_default_str();
  c->add_option("--ffn-mult", a->o.model.ffn_mult, "feed-forward width / dim")->capture_default_str();
  c->add_option("--item-dim", a->item_dim, "item table width (default: --dim)")->capture_default_str();
  c->add_option("--field-dim", a->field_dim, "width of the other field tables")->capture_default_str();
  c->add_option("--max-len", a->o.model.max_len, "events per training window and attention window")->capture_default_str();
  c->add_option("--dropout", a->o.model.dropout, "dropout")->capture_default_str();
  c->add_flag("--no-time-gap", a->no_time_gap, "leave out the time-gap field");
  auto* steps = c->add_option("--steps", a->o.steps, "optimiser steps (0: from --epochs)")->capture_default_str();
  c->add_option("--epochs", a->o.epochs, "passes over the training windows, when --steps is 0")
      ->excludes(steps)
      ->capture_default_str();
  c->add_option("--batch-size", a->o.batch_size, "windows per step")->capture_default_str();
  c->add_option("--lr", a->o.lr, "peak learning rate (AdamW)")->capture_default_str();
  c->add_option("--weight-decay", a->o.weight_decay, "AdamW weight decay")->capture_default_str();
  c->add_option("--warmup", a->o.warmup, "warmup steps (default min(steps/10, 200))")->capture_default_str();
  c->add_option("--clip", a->o.clip, "gradient-norm clip")->capture_default_str();
  c->add_option("--stride", a->o.stride, "window stride (default max-len/2)")->capture_default_str();
  c->add_option("--seed", a->o.seed, "seed for initialisation, data order, dropout, sampling")->capture_default_str();
  c->add_option("--eval-every", a->o.eval_every, "validation every N steps (0: at the end only)")->capture_default_str();
  c->add_option("--eval-users", a->o.eval_users, "validation users per evaluation (0: all)")->capture_default_str();
  c->add_option("--checkpoint-every", a->o.checkpoint_every, "checkpoint every N steps (default --eval-every)")->capture_default_str();
  c->add_option("--log-every", a->o.log_every, "metrics line every N steps")->capture_default_str();
  c->add_option("--sampled-softmax", a->o.sampled_negatives, "item negatives per step (0: full softmax)")->capture_default_str();
  c->add_option("--field-weight", a->weights, "FIELD=WEIGHT in the loss (default 1 each)");
  c->add_option("--threads", a->o.threads, "intra-op threads (0: libtorch default)")->capture_default_str();
  c->add_option("--stop-after", a->o.stop_after, "stop after this step without a final checkpoint (tests)")
      ->group("");
  c->add_flag("--resume", a->resume, "continue the run in --out from its checkpoint (its own options)");
  c->add_option("--device", a->device, "cpu, cuda, cuda:N");
  add_dist_options(c, a->dist);
  c->callback([a, c] { run_pretrain(*a, *c); });
}

void add_eval(CLI::App& group) {
  struct Args {
    std::string data, run, split = "test", device = "cpu";
    int negatives = 0;
    uint64_t seed = 1;
  };
  auto a = std::make_shared<Args>();
  auto* c = group.add_subcommand("eval", "next-item Recall@1/5/10 and NDCG@10 against popularity");
  c->add_option("--data", a->data, "prepared dataset directory")->required();
  c->add_option("--run", a->run, "pretraining run directory")->required();
  c->add_option("--split", a->split, "test or validation")->check(CLI::IsMember({"test", "validation"}));
  c->add_option("--negatives", a->negatives, "rank among N sampled items instead of the catalogue (e.g. 100)");
  c->add_option("--seed", a->seed, "seed for the sampled negatives");
  c->add_option("--device", a->device, "cpu, cuda, cuda:N");
  c->callback([a] {
    auto device = llm::parse_device(a->device);
    auto ds = data::Dataset::open(a->data);
    auto [model, ev] = load_encoder_on(ds, a->run, device);
    enc::EvalOptions eo;
    eo.split = a->split == "test" ? enc::EvalSplit::kTest : enc::EvalSplit::kValidation;
    eo.negatives = a->negatives;
    eo.seed = a->seed;
    auto r = enc::evaluate(model, ev, eo, device);
    auto j = metrics_json(r.model);
    j["popularity"] = metrics_json(r.popularity);
    j["users"] = r.model.users;
    j["skipped_oov_targets"] = r.skipped_oov;
    j["split"] = a->split;
    j["candidates"] = a->negatives > 0 ? std::to_string(a->negatives) + " sampled" : "catalogue";
    std::printf("%s\n", j.dump().c_str());
  });
}

void add_embed(CLI::App& group) {
  struct Args {
    std::string data, run, out, device = "cpu", format = "userllm";
    bool per_event = false, overwrite = false;
  };
  auto a = std::make_shared<Args>();
  auto* c = group.add_subcommand("embed", "write every user's embeddings (docs/data-format.md)");
  c->add_option("--data", a->data, "prepared dataset directory")->required();
  c->add_option("--run", a->run, "pretraining run directory")->required();
  c->add_option("--out", a->out, "output file")->required();
  c->add_flag("--per-event", a->per_event, "every event's embedding, not only the user vector");
  c->add_option("--format", a->format, "userllm (docs/data-format.md), safetensors, or npy (user vectors; ids in FILE.keys.txt)")
      ->check(CLI::IsMember({"userllm", "safetensors", "npy"}))
      ->capture_default_str();
  c->add_flag("--overwrite", a->overwrite, "replace an existing file");
  c->add_option("--device", a->device, "cpu, cuda, cuda:N");
  c->callback([a] {
    auto device = llm::parse_device(a->device);
    const std::string keys = a->out + ".keys.txt";
    check_output(a->out, OutputKind::kFile, {"--out", {a->data, a->run}, a->overwrite});
    if (a->format == "npy") check_output(keys, OutputKind::kFile, {"--out", {a->data, a->run}, a->overwrite});
    if (a->format == "npy" && a->per_event)
      fail("--format npy holds one vector per user; per-event rows need --format safetensors (offsets)");
    auto ds = data::Dataset::open(a->data);
    auto [model, ev] = load_encoder_on(ds, a->run, device);
    auto e = enc::embed_users(model, ev, user_keys(ds), a->per_event, device);
    if (a->format == "safetensors")
      write_embeddings_safetensors(a->out, e);
    else if (a->format == "npy")
      write_embeddings_npy(a->out, keys, e);
    else
      enc::write_embeddings(a->out, e);
    std::printf("%s\n", nlohmann::json({{"out", a->out}, {"users", e.num_users()}, {"rows", e.offsets.back()},
                                        {"dim", e.dim}, {"per_event", e.per_event}, {"format", a->format}})
                            .dump()
                            .c_str());
  });
}

void add_probe(CLI::App& group) {
  struct Args {
    std::string data, run, device = "cpu";
    enc::ProbeOptions o;
  };
  auto a = std::make_shared<Args>();
  auto* c = group.add_subcommand("probe", "linear probe of the user vector for the synthetic true favourite genre");
  c->add_option("--data", a->data, "prepared synthetic dataset (with ground_truth.json)")->required();
  c->add_option("--run", a->run, "pretraining run directory")->required();
  c->add_option("--test-fraction", a->o.test_fraction, "users held out for scoring");
  c->add_option("--seed", a->o.seed, "seed for the user split");
  c->add_option("--device", a->device, "cpu, cuda, cuda:N");
  c->callback([a] {
    auto device = llm::parse_device(a->device);
    auto ds = data::Dataset::open(a->data);
    auto truth = data::read_ground_truth(ds, a->data);
    if (!truth) fail(a->data + ": no ground_truth.json (the probe needs synthetic data from `userllm data synth`)");
    if (truth->favorite_genre_now.size() != ds.num_users())
      fail(a->data + "/ground_truth.json: " + std::to_string(truth->favorite_genre_now.size()) + " users, the dataset has " +
           std::to_string(ds.num_users()));
    auto [model, ev] = load_encoder_on(ds, a->run, device);
    auto e = enc::embed_users(model, ev, user_keys(ds), false, device);
    auto x = torch::from_blob(e.vectors.data(), {static_cast<int64_t>(e.num_users()), static_cast<int64_t>(e.dim)},
                              torch::kFloat);
    std::vector<int64_t> labels(truth->favorite_genre_now.begin(), truth->favorite_genre_now.end());
    auto r = enc::linear_probe(x, labels, a->o);
    std::printf("%s\n", nlohmann::json({{"test_accuracy", r.test_accuracy},
                                        {"majority_rate", r.majority_rate},
                                        {"train_accuracy", r.train_accuracy},
                                        {"train_users", r.train_users},
                                        {"test_users", r.test_users},
                                        {"classes", r.classes}})
                            .dump()
                            .c_str());
  });
}

}  // namespace

void add_encoder_commands(CLI::App& app) {
  auto* cmd = app.add_subcommand("encoder", "user encoder: pretrain, eval, embed, probe");
  cmd->require_subcommand(1);
  add_pretrain(*cmd);
  add_eval(*cmd);
  add_embed(*cmd);
  add_probe(*cmd);
}

}  // namespace userllm::cli
