// userllm finetune: User-LLM on one task (docs/cli.md).
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "cli/dist_options.h"
#include "common/error.h"
#include "common/outputs.h"
#include "dist/world.h"
#include "llm/device.h"
#include "train/finetune.h"

namespace userllm::cli {

namespace {

struct FinetuneArgs {
  std::string out, task, integration, strategy = "full", projector = "mlp";
  bool resume = false;
  train::FinetuneOptions o;
  DistArgs dist;
};

void run_finetune(FinetuneArgs& a, const CLI::App& cmd) {
  llm::parse_device(a.o.device);
  a.o.device = join_world(a.dist, a.o.device);
  if (!a.resume) {
    // Without --resume the run's recorded options do not exist yet: the task and model must be named.
    if (a.task.empty()) fail("finetune: --task is required (next-item, favorite-genre or review)");
    if (a.integration.empty()) fail("finetune: --integration is required (cross-attention, soft-prompt or text)");
    a.o.task = tasks::parse_task(a.task);
    a.o.model.integration = bridge::parse_integration(a.integration);
    a.o.model.strategy = bridge::parse_strategy(a.strategy);
    a.o.model.projector_mlp = a.projector == "mlp";
  }
  check_run_out_on_every_rank(cmd, a.resume, a.out, std::filesystem::path(a.out) / "run", OutputKind::kFinetuneRun,
                              {a.o.data, a.o.encoder, a.o.llm, a.o.tokenizer}, {"--device", "--threads", "--stop-after"});
  auto r = train::finetune(a.out, a.o, a.resume);
  if (!dist::World::get().main()) return;  // rank 0 reports
  if (r.finished_before) {
    spdlog::warn("{}: finished before ({} of {} steps); nothing to resume", a.out, r.step, r.step);
    return;
  }
  if (!std::filesystem::exists(std::filesystem::path(a.out) / "model.safetensors")) {  // --stop-after
    spdlog::info("stopped after step {} (--stop-after)", r.step);
    return;
  }
  std::printf("step %lld: train loss %.4f, validation loss %.4f, trained %lld of %lld parameters (%.2f%%)\n",
              static_cast<long long>(r.step), r.last_loss, r.val_loss, static_cast<long long>(r.trained_parameters),
              static_cast<long long>(r.total_parameters),
              r.total_parameters ? 100.0 * r.trained_parameters / r.total_parameters : 0.0);
  spdlog::info("wrote {} (user_llm.json, model.safetensors, metrics.jsonl, summary.json)", a.out);
}

}  // namespace

void add_finetune_commands(CLI::App& app) {
  auto a = std::make_shared<FinetuneArgs>();
  auto& o = a->o;
  auto* c = app.add_subcommand("finetune", "fine-tune User-LLM (encoder + bridge + LLM) on one task");
  // Required for a new run only: --resume reads them from the run (CLI11 cannot say "unless").
  c->add_option("--data", o.data, "prepared dataset directory (REQUIRED unless --resume)");
  c->add_option("--encoder", o.encoder,
                "pretrained encoder run (`userllm encoder pretrain`; REQUIRED unless --resume or --integration text)");
  c->add_option("--llm", o.llm, "LLM: Hugging Face directory or llama2.c .bin (REQUIRED unless --resume)");
  c->add_option("--tokenizer", o.tokenizer, "tokenizer file (default: the LLM's own)");
  c->add_option("--task", a->task, "next-item, favorite-genre or review (REQUIRED unless --resume)")
      ->check(CLI::IsMember({"next-item", "favorite-genre", "review"}));
  c->add_option("--integration", a->integration,
                "cross-attention, soft-prompt or text (the text-prompt baseline; REQUIRED unless --resume)")
      ->check(CLI::IsMember({"cross-attention", "soft-prompt", "text"}));
  c->add_option("--perceiver", o.model.perceiver, "Perceiver latents K (0: none)")->capture_default_str();
  c->add_option("--strategy", a->strategy, "what trains: full, lora, enc (LLM frozen) or proj (LLM and encoder frozen)")
      ->check(CLI::IsMember({"full", "lora", "enc", "proj"}))
      ->capture_default_str();
  c->add_option("--projector", a->projector, "linear or mlp")->check(CLI::IsMember({"linear", "mlp"}))->capture_default_str();
  c->add_option("--cross-every", o.model.cross_every, "a cross-attention block after every k-th LLM layer")->capture_default_str();
  c->add_option("--lora-rank", o.model.lora.rank, "LoRA rank (--strategy lora)")->capture_default_str();
  c->add_option("--history", o.history, "events of history per example (L)")->capture_default_str();
  c->add_option("--min-history", o.min_history, "only targets with at least N events before them")
      ->capture_default_str();
  c->add_flag("--random-encoder", o.random_encoder, "ablation: the encoder's shape with fresh (seeded) weights");
  c->add_option("--max-train-per-user", o.max_train_per_user, "train examples per user (0: all)")->capture_default_str();
  c->add_option("--context", o.context, "LLM positions for prompt + answer (0: the LLM's maximum)")->capture_default_str();
  c->add_option("--answer-reserve", o.answer_reserve, "positions kept for the answer when cutting the text history (0: 128 for review, else 32)")
      ->capture_default_str();
  c->add_option("--steps", o.steps, "optimiser steps")->capture_default_str();
  c->add_option("--batch-size", o.batch_size, "examples per step")->capture_default_str();
  c->add_option("--lr", o.lr, "peak learning rate (AdamW)")->capture_default_str();
  c->add_option("--weight-decay", o.weight_decay, "AdamW weight decay")->capture_default_str();
  c->add_option("--gate-lr-scale", o.gate_lr_scale, "the cross-attention gates learn at lr times this")
      ->capture_default_str();
  c->add_option("--warmup", o.warmup, "warmup steps (-1: min(steps/10, 100))")->capture_default_str();
  c->add_option("--clip", o.clip, "gradient-norm clip")->capture_default_str();
  c->add_option("--seed", o.seed, "seed of the initialisation, the data order and dropout")->capture_default_str();
  c->add_option("--eval-every", o.eval_every, "validation loss every N steps (0: at the end only)")->capture_default_str();
  c->add_option("--eval-examples", o.eval_examples, "validation examples (0: all)")->capture_default_str();
  c->add_option("--checkpoint-every", o.checkpoint_every, "checkpoint every N steps (0: --eval-every)")->capture_default_str();
  c->add_option("--log-every", o.log_every, "metrics line every N steps")->capture_default_str();
  c->add_option("--device", o.device, "cpu, cuda or cuda:N (--resume may change it)")->capture_default_str();
  c->add_option("--threads", o.threads, "intra-op threads (0: libtorch default; --resume may change it)");
  c->add_option("--stop-after", o.stop_after, "stop after this step without a final checkpoint (tests)")->group("");
  c->add_option("--out", a->out, "run directory")->required();
  c->add_flag("--resume", a->resume, "continue the run in --out from its last checkpoint, with its recorded options");
  add_dist_options(c, a->dist);
  c->callback([a, c] { run_finetune(*a, *c); });
}

}  // namespace userllm::cli
