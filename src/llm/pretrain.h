// Pretraining a small Llama from a plain-text corpus (one document per line):
// a byte-level BPE tokenizer is trained on the training documents, documents
// go to train or validation by a seeded hash of their text, tokens are packed
// into fixed-length sequences, and the model trains with AdamW, linear warmup
// then cosine decay, and gradient clipping. The data order is a function of
// (seed, step) and the optimiser state is in the checkpoint, so --resume
// continues exactly where a killed run stopped.
//
// DIR layout: run/config.json (run record), run/checkpoint.pt, metrics.jsonl,
// summary.json, and at the end the Hugging Face model: config.json,
// model.safetensors, tokenizer.json.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>

namespace userllm::llm {

struct LmPretrainOptions {
  int32_t tokenizer_vocab = 1024;
  int64_t layers = 2, dim = 128, heads = 4, kv_heads = 2;
  int64_t seq_len = 128, batch_size = 16, steps = 500;
  double lr = 3e-3, min_lr_ratio = 0.1, weight_decay = 0.01, clip = 1.0;
  int64_t warmup = -1;            // -1 = min(steps / 10, 200)
  uint64_t seed = 1;
  double val_fraction = 0.1;      // share of documents held out
  int64_t eval_every = 100;       // validation every N steps (and at the end)
  int64_t eval_sequences = 256;   // validation sequences per evaluation (0 = all)
  int64_t log_every = 10;
  std::string device = "cpu";
  // "normal": N(0, 0.02) as Hugging Face initialises Llama (llm/init.h);
  // "torch-default": libtorch's module defaults, what runs before it used.
  std::string init = "normal";
  bool scale_residual_init = false;  // o_proj / down_proj std divided by sqrt(2 * layers)
  std::string precision = "fp32";    // or "bf16": autocast with fp32 master weights (llm/precision.h)
  int64_t stop_after = 0;         // stop without a final checkpoint after this step, as if killed (tests)
};

nlohmann::json to_json(const LmPretrainOptions& o);
LmPretrainOptions lm_pretrain_options_from_json(const nlohmann::json& j);

struct LmPretrainResult {
  int64_t step = 0;
  bool finished_before = false;         // --resume of a finished run: nothing was done
  double last_loss = 0;                 // training loss of the last step
  double val_loss = 0, val_perplexity = 0;
  double unigram_perplexity = 0;        // add-one unigram from train counts, same validation tokens
  int64_t val_tokens = 0, train_tokens = 0;
};

// Learning rate at step (0-based) of `total`: linear warmup, then cosine to min_lr_ratio * lr.
double lm_learning_rate(const LmPretrainOptions& o, int64_t step, int64_t total);

// Trains into `out`. resume: continue from out/run/checkpoint.pt with the recorded
// options (only device may change) and out/tokenizer.json.
LmPretrainResult pretrain_lm(const std::filesystem::path& corpus, const std::filesystem::path& out,
                             LmPretrainOptions o, bool resume);

}  // namespace userllm::llm
