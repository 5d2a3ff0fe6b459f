// Fine-tuning User-LLM on one task: the examples of the train split, AdamW
// over the parameters the strategy trains, linear warmup then cosine decay,
// gradient clipping, a validation loss every N steps, and atomic checkpoints
// that --resume continues exactly (the batch order is a function of seed and
// step; the optimiser and RNG state are in the checkpoint).
//
// RUN layout:
//   run/config.json     the command and FinetuneOptions (common/run_dir.h)
//   user_llm.json       what to rebuild: UserLlmOptions, task, history, prompt
//                       options, and the paths of the frozen sources (data,
//                       encoder run, LLM)
//   model.safetensors   the trained parameters only (UserLlm::trained_parameters)
//   run/checkpoint.pt   the same plus optimiser and RNG state and the step (resume)
//   metrics.jsonl       {"step","loss","lr","grad_norm"} and {"step","split":"validation","loss"}
//   summary.json        final step, losses, parameter counts (trained / total), time
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "bridge/user_llm.h"
#include "data/dataset.h"
#include "encoder/events.h"
#include "llm/tokenizer.h"
#include "tasks/batch.h"
#include "tasks/task.h"

namespace userllm::train {

struct FinetuneOptions {
  std::string data;      // prepared dataset directory
  std::string encoder;   // encoder run directory (unused by the text integration)
  std::string llm;       // LLM: Hugging Face directory or llama2.c file; its tokenizer beside it
  std::string tokenizer; // "" = the LLM's own (DIR/tokenizer.json or tokenizer.model)
  tasks::TaskKind task = tasks::TaskKind::kNextItem;
  int history = 50;              // L
  int max_train_per_user = 1;    // train examples per user (tasks::TaskOptions)
  int min_history = 1;           // only targets with at least this many events before them
  bool random_encoder = false;   // ablation: the encoder's shape with fresh weights (seeded), not its training
  bridge::UserLlmOptions model;
  int64_t context = 0;           // LLM positions for prompt + answer; 0 = the LLM's max_position_embeddings
  int64_t answer_reserve = 0;    // 0 = 128 for review, else 32
  int64_t steps = 300, batch_size = 16;
  double lr = 1e-3, min_lr_ratio = 0.1, weight_decay = 0.0, clip = 1.0;
  // The cross-attention gates' learning rate is lr times this. A tanh gate at
  // zero opens only as fast as AdamW moves it (about lr per step), and while it
  // is small the block's contribution stays small: see docs/results.md.
  double gate_lr_scale = 100.0;
  int64_t warmup = -1;           // -1 = min(steps / 10, 100)
  uint64_t seed = 1;
  int64_t eval_every = 100;      // validation loss every N steps (and at the end); 0 = only at the end
  int64_t eval_examples = 256;   // validation examples per evaluation (0 = all)
  int64_t checkpoint_every = 0;  // 0 = eval_every
  int64_t log_every = 10;
  std::string device = "cpu";
  int threads = 0;               // 0 = libtorch's default
  int64_t stop_after = 0;        // stop without a final checkpoint after this step, as if killed (tests)
};

nlohmann::json to_json(const FinetuneOptions& o);
FinetuneOptions finetune_options_from_json(const nlohmann::json& j);  // throws userllm::Error
// The examples a run trains and is evaluated on.
tasks::TaskOptions task_options(const FinetuneOptions& o);

struct FinetuneResult {
  int64_t step = 0;
  double last_loss = 0, val_loss = 0;
  int64_t trained_parameters = 0, total_parameters = 0;
  bool finished_before = false;  // --resume of a finished run: nothing was done
};

// Trains into `run`. resume: continue from run/run/checkpoint.pt with the
// recorded options (only device and threads may change).
FinetuneResult finetune(const std::filesystem::path& run, FinetuneOptions o, bool resume);

// Everything a fine-tuned run needs to be evaluated or served.
struct LoadedRun {
  FinetuneOptions options;
  std::unique_ptr<data::Dataset> dataset;
  std::unique_ptr<encoder::Events> events;   // null for the text integration
  std::unique_ptr<llm::Tokenizer> tokenizer;
  bridge::UserLlm model{nullptr};            // eval mode, trained weights loaded
  tasks::PromptOptions prompt;
  std::optional<data::GroundTruth> ground_truth;  // synthetic data
};
// Where a run's sources are now, when they moved since it was trained
// (empty: where RUN/user_llm.json says, relative to RUN). The fingerprints
// still have to match.
struct SourceOverrides {
  std::string data, encoder, llm;
};

// RUN/user_llm.json's options, its source paths resolved against RUN (runs
// made before they were stored relative hold absolute ones) or overridden.
FinetuneOptions read_run_options(const std::filesystem::path& run, const SourceOverrides& overrides = {});

// Rebuilds RUN's model from its sources and model.safetensors (throws
// userllm::Error on a missing or inconsistent file). `device` overrides the recorded one when not empty.
LoadedRun load_run(const std::filesystem::path& run, const std::string& device = "",
                   const SourceOverrides& overrides = {});

// Rebuilds the untrained model a FinetuneOptions describes (encoder and LLM
// loaded from their sources); shared by finetune() and load_run().
bridge::UserLlm build_model(const FinetuneOptions& o, const data::Dataset& ds, const torch::Device& device);

}  // namespace userllm::train
