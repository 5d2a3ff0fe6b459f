// userllm lm ...: run, convert and (later) train Llama-family models.
#include <spdlog/spdlog.h>
#include <torch/cuda.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "common/atomic_file.h"
#include "common/error.h"
#include "llm/checkpoint.h"
#include "llm/generate.h"
#include "llm/tokenizer.h"

namespace userllm::cli {

namespace fs = std::filesystem;
using namespace userllm::llm;

namespace {

torch::Device parse_device(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  if (name == "cuda") {
    if (!torch::cuda::is_available()) fail("--device cuda: no CUDA device is available");
    return torch::kCUDA;
  }
  fail("--device must be cpu or cuda, not \"" + name + "\"");
}

struct GenerateArgs {
  std::string model, prompt, tokenizer, device = "cpu";
  int64_t max_new_tokens = 256;
  SamplingParams sampling;
};

void run_generate(const GenerateArgs& a) {
  a.sampling.validate();
  // A llama2.c .bin has no tokenizer beside it; a model directory usually does.
  if (!fs::exists(a.model)) fail(a.model + ": no such model file or directory");
  fs::path tok_path = a.tokenizer;
  if (tok_path.empty()) {
    if (!fs::is_directory(a.model)) fail("--tokenizer is required for a llama2.c checkpoint (e.g. tok512.bin)");
    tok_path = a.model;
  }
  auto tokenizer = load_tokenizer(tok_path);
  auto model = load_model(a.model, LoadOptions{parse_device(a.device)});
  const auto& cfg = model->config();
  if (tokenizer->vocab_size() > cfg.vocab_size)
    fail(tok_path.string() + ": tokenizer has " + std::to_string(tokenizer->vocab_size()) +
         " tokens but the model only " + std::to_string(cfg.vocab_size));

  std::vector<int32_t> ids32 = tokenizer->encode(a.prompt, /*add_bos=*/true);
  std::vector<int64_t> prompt(ids32.begin(), ids32.end());
  if (prompt.empty()) fail("the prompt encodes to no tokens and the tokenizer has no BOS");
  // Echo the prompt piece by piece, as llama2.c does, then stream new tokens.
  for (size_t i = 1; i < ids32.size(); ++i) std::fputs(tokenizer->decode_token(ids32[i - 1], ids32[i]).c_str(), stdout);
  std::fflush(stdout);

  GenerateOptions opts;
  opts.max_new_tokens = a.max_new_tokens;
  opts.sampling = a.sampling;
  // Stop at EOS, and at BOS too: a generated BOS starts a new document (llama2.c stops there).
  opts.stop_tokens.assign(cfg.eos_token_ids.begin(), cfg.eos_token_ids.end());
  if (tokenizer->eos_id() >= 0) opts.stop_tokens.push_back(tokenizer->eos_id());
  if (tokenizer->bos_id() >= 0) opts.stop_tokens.push_back(tokenizer->bos_id());
  int32_t prev = ids32.back();
  int64_t produced = 0;
  auto start = std::chrono::steady_clock::now();
  generate(model, {prompt}, opts, [&](size_t, int64_t tok) {
    std::fputs(tokenizer->decode_token(prev, int32_t(tok)).c_str(), stdout);
    std::fflush(stdout);
    prev = int32_t(tok);
    ++produced;
  });
  std::fputs("\n", stdout);
  std::fflush(stdout);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  spdlog::info("{} prompt + {} generated tokens in {:.3f} s ({:.1f} tok/s)", prompt.size(), produced, secs,
               produced / std::max(secs, 1e-9));
}

struct ConvertArgs {
  std::string from = "llama2c", input, tokenizer, out;
};

// The tokenizer keeps its format under the name Hugging Face tools look for:
// tokenizer.json, tokenizer.model (SentencePiece, e.g. stories260K's
// tok512.model), or tokenizer.bin (llama2.c's export, which only we read).
std::string tokenizer_file_name(const fs::path& p) {
  auto ext = p.extension().string();
  if (ext == ".json") return "tokenizer.json";
  if (ext == ".model") return "tokenizer.model";
  return "tokenizer.bin";
}

void run_convert(const ConvertArgs& a) {
  if (a.from != "llama2c") fail("--from must be llama2c");
  if (fs::is_directory(a.input)) fail(a.input + ": expected a llama2.c checkpoint file, got a directory");
  auto model = load_model(a.input);
  AtomicDir out(a.out);
  save_hf_model(model, out.path());
  if (!a.tokenizer.empty()) {
    auto tokenizer = load_tokenizer(a.tokenizer);  // validates before copying
    if (tokenizer->vocab_size() != model->config().vocab_size)
      fail(a.tokenizer + ": tokenizer has " + std::to_string(tokenizer->vocab_size()) + " tokens but the model " +
           std::to_string(model->config().vocab_size));
    write_file_atomic(out / tokenizer_file_name(a.tokenizer), read_file(a.tokenizer));
    // tokenizer.json's BOS/EOS and chat template live beside it.
    const fs::path config = fs::path(a.tokenizer).parent_path() / "tokenizer_config.json";
    if (tokenizer_file_name(a.tokenizer) == "tokenizer.json" && fs::exists(config))
      write_file_atomic(out / "tokenizer_config.json", read_file(config.string()));
  }
  out.commit();
  spdlog::info("wrote {} ({} parameters)", a.out, model->config().num_parameters());
}

}  // namespace

void add_lm_commands(CLI::App& app) {
  auto* cmd = app.add_subcommand("lm", "language models: generate, convert");
  cmd->require_subcommand(1);

  auto gen = std::make_shared<GenerateArgs>();
  auto* g = cmd->add_subcommand("generate", "generate text from a prompt, streaming it to stdout");
  g->add_option("--model", gen->model, "Hugging Face model directory or llama2.c .bin")->required();
  g->add_option("--prompt", gen->prompt, "prompt text")->required();
  g->add_option("--tokenizer", gen->tokenizer, "tokenizer file (default: the one in the model directory)");
  g->add_option("--max-new-tokens", gen->max_new_tokens, "tokens to generate at most")->capture_default_str();
  g->add_option("--temperature", gen->sampling.temperature, "0 = greedy")->capture_default_str();
  g->add_option("--top-k", gen->sampling.top_k, "sample from the K most likely tokens (0 = all)")->capture_default_str();
  g->add_option("--top-p", gen->sampling.top_p, "nucleus sampling mass")->capture_default_str();
  g->add_option("--seed", gen->sampling.seed, "random seed")->capture_default_str();
  g->add_option("--device", gen->device, "cpu or cuda")->capture_default_str();
  g->callback([gen] { run_generate(*gen); });

  auto conv = std::make_shared<ConvertArgs>();
  auto* c = cmd->add_subcommand("convert", "convert a llama2.c checkpoint to a Hugging Face directory");
  c->add_option("--from", conv->from, "source format (llama2c)")->capture_default_str();
  c->add_option("--input", conv->input, "llama2.c .bin checkpoint")->required();
  c->add_option("--tokenizer", conv->tokenizer, "tokenizer to copy in (.model, .json or llama2.c .bin)");
  c->add_option("--out", conv->out, "output directory (replaced atomically)")->required();
  c->callback([conv] { run_convert(*conv); });

  // ---- lm tokenize (tokenizer engineer): register below this line ----
  void add_lm_tokenize_commands(CLI::App& lm);  // lm_tokenize_cmd.cpp
  add_lm_tokenize_commands(*cmd);
  void add_lm_pretrain_commands(CLI::App& lm);  // lm_pretrain_cmd.cpp
  add_lm_pretrain_commands(*cmd);
}

}  // namespace userllm::cli
