#include "llm/pretrain.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <optional>
#include <random>
#include <sstream>

#include <spdlog/spdlog.h>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/line_reader.h"
#include "common/metrics.h"
#include "common/progress.h"
#include "common/run_dir.h"
#include "common/schedule.h"
#include "dist/gradient_reducer.h"
#include "dist/world.h"
#include "common/utf8.h"
#include "llm/bpe_trainer.h"
#include "llm/checkpoint.h"
#include "llm/init.h"
#include "llm/optimizer_state.h"
#include "llm/precision.h"
#include "llm/tokenizer.h"

namespace userllm::llm {

namespace fs = std::filesystem;

nlohmann::json to_json(const LmPretrainOptions& o) {
  return {{"tokenizer_vocab", o.tokenizer_vocab}, {"layers", o.layers}, {"dim", o.dim},
          {"heads", o.heads}, {"kv_heads", o.kv_heads}, {"seq_len", o.seq_len},
          {"batch_size", o.batch_size}, {"steps", o.steps}, {"lr", o.lr},
          {"min_lr_ratio", o.min_lr_ratio}, {"weight_decay", o.weight_decay}, {"clip", o.clip},
          {"warmup", o.warmup}, {"seed", o.seed}, {"val_fraction", o.val_fraction},
          {"eval_every", o.eval_every}, {"eval_sequences", o.eval_sequences}, {"log_every", o.log_every},
          {"device", o.device}, {"init", o.init}, {"scale_residual_init", o.scale_residual_init},
          {"precision", o.precision}};
}

LmPretrainOptions lm_pretrain_options_from_json(const nlohmann::json& j) {
  LmPretrainOptions o;
  try {
    o.tokenizer_vocab = j.at("tokenizer_vocab");
    o.layers = j.at("layers");
    o.dim = j.at("dim");
    o.heads = j.at("heads");
    o.kv_heads = j.at("kv_heads");
    o.seq_len = j.at("seq_len");
    o.batch_size = j.at("batch_size");
    o.steps = j.at("steps");
    o.lr = j.at("lr");
    o.min_lr_ratio = j.at("min_lr_ratio");
    o.weight_decay = j.at("weight_decay");
    o.clip = j.at("clip");
    o.warmup = j.at("warmup");
    o.seed = j.at("seed");
    o.val_fraction = j.at("val_fraction");
    o.eval_every = j.at("eval_every");
    o.eval_sequences = j.at("eval_sequences");
    o.log_every = j.at("log_every");
    o.device = j.at("device");
    // Runs recorded before the option existed were initialised with libtorch's defaults.
    o.init = j.value("init", std::string("torch-default"));
    o.scale_residual_init = j.value("scale_residual_init", false);
    o.precision = j.value("precision", std::string("fp32"));
  } catch (const nlohmann::json::exception& e) {
    fail(std::string("lm pretrain options: ") + e.what());
  }
  return o;
}

double lm_learning_rate(const LmPretrainOptions& o, int64_t step, int64_t total) {
  return warmup_cosine_lr(o.lr, o.min_lr_ratio, o.warmup, step, total);
}

namespace {

constexpr const char* kFormat = "userllm-lm-checkpoint-1";

void check_options(const LmPretrainOptions& o) {
  auto need = [](bool ok, const std::string& what) {
    if (!ok) fail("lm pretrain: " + what);
  };
  need(o.tokenizer_vocab >= 259 && o.tokenizer_vocab <= 1 << 20, "--tokenizer-vocab must be in [259, 1048576]");
  need(o.layers >= 1 && o.layers <= 64, "--layers must be in [1, 64]");
  need(o.heads >= 1 && o.dim >= 2 && o.dim % o.heads == 0 && (o.dim / o.heads) % 2 == 0,
       "--dim must be a multiple of --heads with an even head size");
  need(o.kv_heads >= 1 && o.heads % o.kv_heads == 0, "--heads must be a multiple of --kv-heads");
  need(o.seq_len >= 2 && o.seq_len <= 1 << 16, "--seq-len must be in [2, 65536]");
  need(o.batch_size >= 1, "--batch-size must be >= 1");
  need(o.steps >= 1, "--steps must be >= 1");
  need(o.lr > 0 && std::isfinite(o.lr), "--lr must be > 0");
  need(o.val_fraction > 0 && o.val_fraction < 1, "--val-fraction must be in (0, 1)");
  need(o.eval_every >= 0 && o.eval_sequences >= 0 && o.log_every >= 1, "eval/log intervals must be >= 0");
  need(o.init == "normal" || o.init == "torch-default", "--init must be normal or torch-default");
  parse_precision(o.precision);
}

// FNV-1a of the text mixed with the seed: a document's split does not depend on its position.
bool is_validation(std::string_view text, uint64_t seed, double fraction) {
  uint64_t h = 1469598103934665603ULL ^ (seed * 0x9E3779B97F4A7C15ULL);
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ULL;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return static_cast<double>(h >> 11) / static_cast<double>(1ULL << 53) < fraction;
}

struct Documents {
  std::vector<std::string> train, validation;
};

Documents read_documents(const fs::path& corpus, const LmPretrainOptions& o) {
  if (!fs::is_regular_file(corpus)) fail(corpus.string() + ": no such corpus file");
  Documents docs;
  LineReader r(corpus.string());
  std::string_view line;
  while (r.next(line)) {
    if (line.empty()) continue;
    if (size_t bad = utf8_invalid_at(line); bad != std::string::npos)
      fail(at_line(corpus.string(), r.line_number(), "not valid UTF-8 at column " + std::to_string(bad + 1)));
    (is_validation(line, o.seed, o.val_fraction) ? docs.validation : docs.train).emplace_back(line);
  }
  if (docs.train.empty() || docs.validation.empty())
    fail(corpus.string() + ": " + std::to_string(docs.train.size()) + " training and " +
         std::to_string(docs.validation.size()) + " validation documents; need at least one of each");
  return docs;
}

// Every document as BOS text EOS, concatenated.
std::vector<int64_t> token_stream(const Tokenizer& tok, const std::vector<std::string>& docs, const char* what) {
  std::vector<int64_t> out;
  Progress bar("tokenizing " + std::string(what), docs.size(), "docs");
  for (const auto& d : docs) {
    for (int32_t id : tok.encode(d, /*add_bos=*/true, /*add_eos=*/true)) out.push_back(id);
    bar.add();
  }
  return out;
}

// Non-overlapping windows of seq_len + 1 tokens (inputs and their next tokens) as [N, seq_len + 1].
torch::Tensor pack(const std::vector<int64_t>& stream, int64_t seq_len) {
  const int64_t n = stream.empty() ? 0 : (static_cast<int64_t>(stream.size()) - 1) / seq_len;
  auto t = torch::empty({n, seq_len + 1}, torch::kLong);
  for (int64_t i = 0; i < n; ++i)
    std::copy_n(stream.begin() + i * seq_len, seq_len + 1, t[i].data_ptr<int64_t>());
  return t;
}

// The sequence indices of a step (common/schedule.h).
torch::Tensor batch_at(int64_t n, int64_t step, int64_t batch_size, uint64_t seed) {
  return torch::tensor(batch_indices(n, step, batch_size, seed), torch::kLong);
}

LlamaConfig model_config(const LmPretrainOptions& o, const Tokenizer& tok) {
  LlamaConfig c;
  c.vocab_size = tok.vocab_size();
  c.hidden_size = o.dim;
  c.intermediate_size = (8 * o.dim / 3 + 31) / 32 * 32;  // SwiGLU's usual 8/3, rounded to 32
  c.num_layers = o.layers;
  c.num_heads = o.heads;
  c.num_kv_heads = o.kv_heads;
  c.max_position_embeddings = o.seq_len;
  c.rms_norm_eps = 1e-5;
  c.tie_word_embeddings = true;  // small models: the embedding is most of the parameters
  c.bos_token_id = tok.bos_id();
  c.eos_token_ids = {tok.eos_id()};
  c.validate("lm pretrain");
  return c;
}

torch::Tensor lm_loss(LlamaForCausalLM& model, const torch::Tensor& seqs, bool sum, Precision precision) {
  const int64_t T = seqs.size(1) - 1;
  torch::Tensor logits;
  {
    MixedPrecision autocast(precision, seqs.device());  // the forward only; backward follows its casts
    logits = model->forward(seqs.narrow(1, 0, T));
  }
  logits = logits.to(torch::kFloat32);  // the softmax over the vocabulary in float32
  namespace F = torch::nn::functional;
  F::CrossEntropyFuncOptions reduction;
  if (sum) reduction.reduction(torch::kSum);
  return F::cross_entropy(logits.reshape({-1, logits.size(-1)}), seqs.narrow(1, 1, T).reshape({-1}), reduction);
}

// Mean next-token loss over the validation sequences; each rank reads its shard.
double validation_loss(LlamaForCausalLM& model, const torch::Tensor& val, int64_t batch_size, torch::Device device,
                       Precision precision) {
  torch::NoGradGuard no_grad;
  model->eval();
  dist::World& world = dist::World::get();
  const auto [begin, end] = world.shard(val.size(0));
  double total = 0;
  for (int64_t i = begin; i < end; i += batch_size)
    total += lm_loss(model, val.slice(0, i, std::min(end, i + batch_size)).to(device), true, precision).item<double>();
  total = world.sum(total, "the validation loss");
  model->train();
  return total / static_cast<double>(val.size(0) * (val.size(1) - 1));
}

// Perplexity of an add-one smoothed unigram model, counted on train, on the validation targets.
double unigram_perplexity(const std::vector<int64_t>& train, const torch::Tensor& val, int64_t vocab) {
  std::vector<double> counts(vocab, 1.0);
  for (int64_t t : train) counts[t] += 1.0;
  const double total = static_cast<double>(train.size() + vocab);
  auto targets = val.narrow(1, 1, val.size(1) - 1).contiguous();
  const int64_t* p = targets.data_ptr<int64_t>();
  double nll = 0;
  for (int64_t i = 0; i < targets.numel(); ++i) nll -= std::log(counts[p[i]] / total);
  return std::exp(nll / static_cast<double>(targets.numel()));
}

void save_checkpoint(const fs::path& file, LlamaForCausalLM& model, torch::optim::Optimizer& opt, int64_t step) {
  torch::serialize::OutputArchive archive, model_archive, opt_archive;
  archive.write("format", c10::IValue(std::string(kFormat)));
  archive.write("step", c10::IValue(step));
  model->save(model_archive);
  archive.write("model", model_archive);
  opt.save(opt_archive);
  archive.write("optimizer", opt_archive);
  std::ostringstream bytes;
  archive.save_to(bytes);
  write_file_atomic(file, bytes.str());
}

int64_t load_checkpoint(const fs::path& file, LlamaForCausalLM& model, torch::optim::Optimizer& opt) {
  if (!fs::exists(file)) fail(file.string() + ": not found (nothing to resume)");
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
  for (const auto& p : model->named_parameters()) shapes.emplace_back(p.key(), p.value().sizes().vec());
  try {
    torch::serialize::InputArchive archive, model_archive, opt_archive;
    archive.load_from(file.string());
    c10::IValue format, step;
    archive.read("format", format);
    if (!format.isString() || format.toStringRef() != kFormat) fail(file.string() + ": not a userllm LM checkpoint");
    archive.read("step", step);
    if (!step.isInt() || step.toInt() < 0) fail(file.string() + ": bad step");
    archive.read("model", model_archive);
    model->load(model_archive);
    auto params = model->named_parameters();
    for (const auto& [name, sizes] : shapes)
      if (params[name].sizes().vec() != sizes) fail(file.string() + ": tensor '" + name + "' has the wrong shape");
    archive.read("optimizer", opt_archive);
    opt.load(opt_archive);
    check_adamw_state(opt, file.string());
    return step.toInt();
  } catch (const c10::Error& e) {
    fail(file.string() + ": unreadable checkpoint (" + std::string(e.what_without_backtrace()) + ")");
  }
}

}  // namespace

LmPretrainResult pretrain_lm(const fs::path& corpus, const fs::path& out, LmPretrainOptions o, bool resume) {
  const fs::path run = out / "run", ckpt = run / "checkpoint.pt", tok_path = out / "tokenizer.json";
  if (resume) {
    const std::string device = o.device;
    const int64_t stop_after = o.stop_after;
    o = lm_pretrain_options_from_json(read_run_config(run).at("options"));
    o.device = device;  // the only options a resumed run may change
    o.stop_after = stop_after;
    if (fs::exists(out / "summary.json") && fs::exists(out / "model.safetensors")) {
      LmPretrainResult done;
      done.step = o.steps;
      done.finished_before = true;
      return done;
    }
  }
  check_options(o);
  dist::World& world = dist::World::get();
  world.check_batch_size(o.batch_size, "lm pretrain: ");
  const torch::Device device(o.device);
  const Precision precision = parse_precision(o.precision);
  const Documents docs = read_documents(corpus, o);

  if (!resume) {
    if (fs::exists(ckpt)) fail(out.string() + ": already holds a run (use --resume to continue it, or another --out)");
    // The other ranks wait here for rank 0's tokenizer (within --dist-timeout).
    world.on_main("creating the run and its tokenizer", [&] {
      fs::create_directories(run);
      write_run_config(run, to_json(o), {{"distributed", world.record()}});
      fs::remove(out / "metrics.jsonl");
      BpeTrainer trainer;  // on training documents only: validation text stays unseen
      for (const auto& d : docs.train) trainer.add_text(d + "\n");
      BpeTrainerOptions bo;
      bo.vocab_size = o.tokenizer_vocab;
      write_file_atomic(tok_path, trainer.train(bo).dump(1));
    });
  }
  // Runs from before tokenizer_config.json existed get it on resume.
  world.on_main("writing tokenizer_config.json", [&] {
    if (!fs::exists(out / "tokenizer_config.json"))
      write_file_atomic(out / "tokenizer_config.json",
                        BpeTrainer::tokenizer_config(BpeTrainerOptions{}).dump(2) + "\n");
  });
  const auto tok = load_tokenizer(tok_path);
  const LlamaConfig cfg = model_config(o, *tok);
  const std::vector<int64_t> train_stream = token_stream(*tok, docs.train, "train");
  const torch::Tensor train = pack(train_stream, o.seq_len);
  torch::Tensor val = pack(token_stream(*tok, docs.validation, "validation"), o.seq_len);
  if (train.size(0) == 0 || val.size(0) == 0)
    fail(corpus.string() + ": too little text for one sequence of --seq-len " + std::to_string(o.seq_len) +
         " tokens in both train and validation");
  if (o.eval_sequences > 0 && val.size(0) > o.eval_sequences) val = val.slice(0, 0, o.eval_sequences);

  torch::manual_seed(o.seed);
  LlamaForCausalLM model(cfg);
  if (o.init == "normal") {
    init_weights(*model, InitOptions{cfg.initializer_range, o.scale_residual_init});
    spdlog::info("lm pretrain: weights ~ N(0, {}){}", cfg.initializer_range,
                 o.scale_residual_init ? ", o_proj and down_proj scaled by 1/sqrt(2 * layers)" : "");
  } else {
    spdlog::info("lm pretrain: libtorch's default initialisation (--init torch-default)");
  }
  model->to(device);
  torch::optim::AdamW opt(model->parameters(), torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
  int64_t step = 0;
  if (resume) {
    step = load_checkpoint(ckpt, model, opt);
    if (step > o.steps) fail(ckpt.string() + ": step " + std::to_string(step) + " is past the run's " + std::to_string(o.steps));
    if (world.main()) truncate_jsonl(out / "metrics.jsonl", step);
  }
  std::optional<MetricsLog> metrics;
  if (world.main()) metrics.emplace(out / "metrics.jsonl");
  // Every rank starts from rank 0's parameters; their gradients are summed as backward runs.
  const std::vector<torch::Tensor> params = model->parameters();
  world.broadcast(params, "the initial parameters");
  dist::GradientReducer reducer(world, params);

  LmPretrainResult result;
  if (resume) result.last_loss = last_train_loss(out / "metrics.jsonl", step);  // killed after its last checkpoint
  result.train_tokens = static_cast<int64_t>(train_stream.size());
  result.val_tokens = val.size(0) * o.seq_len;
  Progress bar("lm pretrain", o.steps, "steps");
  bar.set(step);
  model->train();
  auto t0 = std::chrono::steady_clock::now();
  int64_t tokens_since = 0;
  while (step < o.steps) {
    const double lr = lm_learning_rate(o, step, o.steps);
    for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
    world.set_step(step + 1);
    auto rows = batch_at(train.size(0), step, o.batch_size, o.seed);
    const auto [first, last] = world.shard(rows.size(0));
    auto batch = train.index_select(0, rows.slice(0, first, last)).to(device);
    auto loss = lm_loss(model, batch, false, precision);
    // Every row has seq_len targets: this rank's share of the batch's mean is its rows'.
    const double share = double(last - first) / double(rows.size(0));
    opt.zero_grad();
    (world.distributed() ? loss * share : loss).backward();
    reducer.finish();
    const double grad_norm = torch::nn::utils::clip_grad_norm_(params, o.clip);
    opt.step();
    ++step;
    tokens_since += rows.size(0) * o.seq_len;
    result.last_loss = world.distributed() ? world.sum(loss.item<double>() * share, "the loss") : loss.item<double>();
    if (!std::isfinite(result.last_loss))
      fail("lm pretrain: the loss became " + std::to_string(result.last_loss) + " at step " + std::to_string(step) + " (try a lower --lr)");
    // Step 1 too: the loss before any update shows the initialisation (about ln(vocab)).
    if (step == 1 || step % o.log_every == 0 || step == o.steps) {
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (metrics)
        metrics->write({{"step", step}, {"loss", result.last_loss}, {"lr", lr}, {"grad_norm", grad_norm},
                        {"tokens_per_s", secs > 0 ? tokens_since / secs : 0.0}});
      t0 = std::chrono::steady_clock::now();
      tokens_since = 0;
    }
    bar.set(step);
    bar.set_note("loss " + std::to_string(result.last_loss).substr(0, 6));
    if (o.stop_after > 0 && step >= o.stop_after && step < o.steps) {
      result.step = step;
      return result;  // as if killed: no checkpoint past the last one
    }
    if ((o.eval_every > 0 && step % o.eval_every == 0) || step == o.steps) {
      result.val_loss = validation_loss(model, val, o.batch_size, device, precision);
      if (metrics)
        metrics->write({{"step", step}, {"split", "validation"}, {"loss", result.val_loss},
                        {"perplexity", std::exp(result.val_loss)}});
      world.on_main("writing the checkpoint", [&] { save_checkpoint(ckpt, model, opt, step); });
    }
  }
  bar.finish();
  result.step = step;
  result.val_loss = validation_loss(model, val, o.batch_size, device, precision);
  result.val_perplexity = std::exp(result.val_loss);
  result.unigram_perplexity = unigram_perplexity(train_stream, val, cfg.vocab_size);
  world.on_main("writing the model", [&] {
    save_hf_model(model, out);
    write_file_atomic(out / "summary.json",
                      nlohmann::json{{"steps", step},
                                     {"train_loss", result.last_loss},
                                     {"val_loss", result.val_loss},
                                     {"val_perplexity", result.val_perplexity},
                                     {"unigram_perplexity", result.unigram_perplexity},
                                     {"val_tokens", result.val_tokens},
                                     {"train_tokens", result.train_tokens},
                                     {"parameters", cfg.num_parameters()},
                                     {"world_size", world.size()}}
                              .dump(2) + "\n");
  });
  return result;
}

}  // namespace userllm::llm
