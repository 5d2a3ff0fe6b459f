// userllm lm pretrain: a tokenizer and a small Llama from a text corpus.
#include <spdlog/spdlog.h>

#include <memory>

#include "cli/commands.h"
#include "cli/dist_options.h"
#include "common/error.h"
#include "common/outputs.h"
#include "dist/world.h"
#include "llm/device.h"
#include "llm/pretrain.h"

namespace userllm::cli {

namespace {

struct PretrainArgs {
  std::string corpus, out;
  bool resume = false;
  llm::LmPretrainOptions o;
  DistArgs dist;
};

void run_pretrain(PretrainArgs& a, const CLI::App& cmd) {
  llm::parse_device(a.o.device);
  a.o.device = join_world(a.dist, a.o.device);
  check_run_out_on_every_rank(cmd, a.resume, a.out, std::filesystem::path(a.out) / "run", OutputKind::kLmRun,
                              {a.corpus}, {"--corpus", "--device", "--stop-after"});
  auto r = llm::pretrain_lm(a.corpus, a.out, a.o, a.resume);
  if (!dist::World::get().main()) return;  // rank 0 reports
  if (r.finished_before) {
    spdlog::warn("{}: finished before ({} of {} steps); nothing to resume", a.out, r.step, r.step);
    return;
  }
  if (a.o.stop_after > 0 && r.step < a.o.steps) {
    spdlog::info("stopped after step {} (--stop-after)", r.step);
    return;
  }
  std::printf("validation perplexity %.3f (loss %.4f), unigram perplexity %.3f, on %lld validation tokens\n",
              r.val_perplexity, r.val_loss, r.unigram_perplexity, static_cast<long long>(r.val_tokens));
  spdlog::info("wrote {} (config.json, model.safetensors, tokenizer.json, summary.json)", a.out);
}

}  // namespace

void add_lm_pretrain_commands(CLI::App& lm) {
  auto a = std::make_shared<PretrainArgs>();
  auto& o = a->o;
  auto* c = lm.add_subcommand("pretrain", "train a BPE tokenizer and a small Llama on a text corpus (one document per line)");
  c->add_option("--corpus", a->corpus, "text corpus, plain or gzip (e.g. from `userllm data corpus`)")->required();
  c->add_option("--out", a->out, "run and model directory")->required();
  c->add_option("--tokenizer-vocab", o.tokenizer_vocab, "BPE vocabulary size at most")->capture_default_str();
  c->add_option("--layers", o.layers, "decoder layers")->capture_default_str();
  c->add_option("--dim", o.dim, "hidden size")->capture_default_str();
  c->add_option("--heads", o.heads, "attention heads")->capture_default_str();
  c->add_option("--kv-heads", o.kv_heads, "key/value heads (grouped-query attention)")->capture_default_str();
  c->add_option("--seq-len", o.seq_len, "tokens per training sequence (the model's context)")->capture_default_str();
  c->add_option("--batch-size", o.batch_size, "sequences per step")->capture_default_str();
  c->add_option("--steps", o.steps, "optimiser steps")->capture_default_str();
  c->add_option("--lr", o.lr, "peak learning rate")->capture_default_str();
  c->add_option("--warmup", o.warmup, "warmup steps (-1 = min(steps/10, 200))")->capture_default_str();
  c->add_option("--seed", o.seed, "seed of the split, the data order and the initialisation")->capture_default_str();
  c->add_option("--val-fraction", o.val_fraction, "share of documents held out for validation")->capture_default_str();
  c->add_option("--eval-every", o.eval_every, "validate and checkpoint every N steps")->capture_default_str();
  c->add_option("--eval-sequences", o.eval_sequences, "validation sequences used (0 = all)")->capture_default_str();
  c->add_option("--device", o.device, "cpu or cuda (the only option --resume may change)")->capture_default_str();
  c->add_option("--init", o.init, "weight initialisation: normal (N(0, 0.02), as Hugging Face) or torch-default")
      ->capture_default_str();
  c->add_flag("--scale-residual-init", o.scale_residual_init,
              "divide o_proj and down_proj's init std by sqrt(2 * layers) (GPT-2 style)");
  c->add_option("--precision", o.precision, "fp32, or bf16 (autocast matmuls, fp32 master weights)")->capture_default_str();
  c->add_option("--stop-after", o.stop_after, "stop after this step without a final checkpoint (tests)")
      ->group("");
  c->add_flag("--resume", a->resume, "continue the run in --out from its last checkpoint");
  add_dist_options(c, a->dist);
  c->callback([a, c] { run_pretrain(*a, *c); });
}

}  // namespace userllm::cli
