// Autoregressive pretraining: next-event prediction over training windows with
// AdamW, linear warmup then cosine decay, gradient clipping, validation every N
// steps, atomic checkpoints, and --resume that continues exactly where a killed
// run stopped (the data order is a function of seed and step; the RNG and
// optimiser state are in the checkpoint).
#pragma once
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "encoder/encoder_options.h"
#include "encoder/events.h"

namespace userllm::encoder {

struct PretrainOptions {
  EncoderOptions model;
  int64_t steps = 0;            // total optimiser steps; 0 = derive from epochs
  double epochs = 1;            // passes over the training windows (when steps is 0)
  int64_t batch_size = 32;
  double lr = 1e-3, min_lr_ratio = 0.1, weight_decay = 0.01, clip = 1.0;
  int64_t warmup = -1;          // -1 = min(steps / 10, 200)
  int64_t stride = 0;           // window stride; 0 = max_len / 2
  uint64_t seed = 1;
  int64_t eval_every = 200;     // validation every N steps (0 = only at the end)
  int64_t eval_users = 1000;    // validation users per evaluation (0 = all)
  int64_t checkpoint_every = 0; // 0 = eval_every
  int64_t log_every = 10;
  int sampled_negatives = 0;    // > 0: sampled softmax with logQ for the item field
  std::vector<double> field_weights;  // empty = 1 for every field
  std::string device = "cpu";
  int threads = 0;              // 0 = libtorch's default
  int64_t stop_after = 0;       // stop (without a final checkpoint) after this step, as if killed
};

nlohmann::json to_json(const PretrainOptions& o);
PretrainOptions pretrain_options_from_json(const nlohmann::json& j);

struct PretrainResult {
  int64_t step = 0;
  double last_loss = 0;
  bool finished_before = false;  // --resume of a finished run: nothing was done
};

// Learning rate at a step (0-based): linear warmup, then cosine to min_lr_ratio * lr.
double learning_rate(const PretrainOptions& o, int64_t step, int64_t total);

// Trains into RUN (config.json, encoder.json, checkpoint.pt, metrics.jsonl).
// resume: continue from RUN/checkpoint.pt with RUN's recorded options.
PretrainResult pretrain(const Events& ev, const std::filesystem::path& run, PretrainOptions o, bool resume);

}  // namespace userllm::encoder
