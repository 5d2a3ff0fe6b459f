// userllm lm ...: run, convert and (later) train Llama-family models.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "common/atomic_file.h"
#include "common/error.h"
#include "common/outputs.h"
#include "llm/chat/chat_template.h"
#include "llm/checkpoint.h"
#include "llm/device.h"
#include "llm/generate.h"
#include "llm/tokenizer.h"

namespace userllm::cli {

namespace fs = std::filesystem;
using namespace userllm::llm;

namespace {

struct GenerateArgs {
  std::string model, prompt, tokenizer, device = "cpu", weights = "f32";
  int64_t max_new_tokens = 256;
  SamplingParams sampling;
};

struct Loaded {
  std::unique_ptr<Tokenizer> tokenizer;
  LlamaForCausalLM model{nullptr};
};

Loaded load(const std::string& model_path, const std::string& tokenizer_path, const std::string& device,
            const std::string& weights) {
  const torch::Device dev = parse_device(device);
  // A llama2.c .bin has no tokenizer beside it; a model directory usually does.
  if (!fs::exists(model_path)) fail(model_path + ": no such model file or directory");
  fs::path tok_path = tokenizer_path;
  if (tok_path.empty()) {
    if (!fs::is_directory(model_path)) fail("--tokenizer is required for a llama2.c checkpoint (e.g. tok512.bin)");
    tok_path = model_path;
  }
  const auto format = parse_weight_format(weights);
  Loaded l{load_tokenizer(tok_path), load_model(model_path, LoadOptions{dev})};
  l.model->pack_weights(format);
  if (l.tokenizer->vocab_size() > l.model->config().vocab_size)
    fail(tok_path.string() + ": tokenizer has " + std::to_string(l.tokenizer->vocab_size()) +
         " tokens but the model only " + std::to_string(l.model->config().vocab_size));
  return l;
}

// Generates after `ids`, streaming the new text to stdout; the rate goes to the log.
void stream_reply(Loaded& l, const std::vector<int32_t>& ids, int64_t max_new_tokens, const SamplingParams& sampling) {
  const auto& cfg = l.model->config();
  GenerateOptions opts;
  opts.max_new_tokens = max_new_tokens;
  opts.sampling = sampling;
  // Stop at EOS, and at BOS too: a generated BOS starts a new document (llama2.c stops there).
  opts.stop_tokens.assign(cfg.eos_token_ids.begin(), cfg.eos_token_ids.end());
  if (l.tokenizer->eos_id() >= 0) opts.stop_tokens.push_back(l.tokenizer->eos_id());
  if (l.tokenizer->bos_id() >= 0) opts.stop_tokens.push_back(l.tokenizer->bos_id());
  int32_t prev = ids.back();
  int64_t produced = 0;
  auto start = std::chrono::steady_clock::now();
  generate(l.model, {std::vector<int64_t>(ids.begin(), ids.end())}, opts, [&](size_t, int64_t tok) {
    std::fputs(l.tokenizer->decode_token(prev, int32_t(tok)).c_str(), stdout);
    std::fflush(stdout);
    prev = int32_t(tok);
    ++produced;
  });
  std::fputs("\n", stdout);
  std::fflush(stdout);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  spdlog::info("{} prompt + {} generated tokens in {:.3f} s ({:.1f} tok/s)", ids.size(), produced, secs,
               produced / std::max(secs, 1e-9));
}

void run_generate(const GenerateArgs& a) {
  a.sampling.validate();
  auto l = load(a.model, a.tokenizer, a.device, a.weights);
  std::vector<int32_t> ids = l.tokenizer->encode(a.prompt, /*add_special=*/true);
  if (ids.empty()) fail("the prompt encodes to no tokens and the tokenizer adds no BOS");
  const int64_t context = l.model->config().context_length();
  if (static_cast<int64_t>(ids.size()) > context)  // before the prompt is echoed: stdout carries results only
    fail("--prompt: " + std::to_string(ids.size()) + " tokens do not fit the model's context of " + std::to_string(context));
  // Echo the prompt piece by piece, as llama2.c does, then stream new tokens.
  for (size_t i = 1; i < ids.size(); ++i) std::fputs(l.tokenizer->decode_token(ids[i - 1], ids[i]).c_str(), stdout);
  std::fflush(stdout);
  stream_reply(l, ids, a.max_new_tokens, a.sampling);
}

// The model directory's chat template, else the documented plain one.
ChatTemplate chat_template_of(const fs::path& model) {
  if (!fs::is_directory(model)) fail(model.string() + ": chat needs a Hugging Face model directory");
  bool plain = false;
  ChatTemplate t = ChatTemplate::for_model(model, &plain);
  if (plain) spdlog::warn("{}: no chat template; using the plain one (<|role|> lines, docs/models.md)", model.string());
  return t;
}

struct ChatArgs {
  std::string model, system, device = "cpu", weights = "f32";
  std::vector<std::string> messages;
  int64_t max_new_tokens = 256;
  SamplingParams sampling;
};

void run_chat(const ChatArgs& a) {
  a.sampling.validate();
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  if (!a.system.empty()) messages.push_back({{"role", "system"}, {"content", a.system}});
  for (size_t i = 0; i < a.messages.size(); ++i)
    messages.push_back({{"role", i % 2 == 0 ? "user" : "assistant"}, {"content", a.messages[i]}});
  if (a.messages.size() % 2 == 0) fail("--message: give an odd number (user, assistant, ..., user)");
  const std::string text = chat_template_of(a.model).render(messages, /*add_generation_prompt=*/true);
  auto l = load(a.model, "", a.device, a.weights);
  // The template writes BOS itself; transformers tokenises its output without special tokens.
  std::vector<int32_t> ids = l.tokenizer->encode(text, /*add_special=*/false);
  if (ids.empty()) fail("the chat template rendered no tokens");
  stream_reply(l, ids, a.max_new_tokens, a.sampling);
}

struct ChatTemplateArgs {
  std::string model, messages;
  std::vector<std::string> vars;
  bool add_generation_prompt = false;
};

void run_chat_template(const ChatTemplateArgs& a) {
  auto messages = nlohmann::ordered_json::parse(read_file(a.messages), nullptr, false);
  if (messages.is_discarded() || !messages.is_array())
    fail(a.messages + ": expected a JSON list of {\"role\", \"content\"} objects");
  for (size_t i = 0; i < messages.size(); ++i)
    if (!messages[i].is_object() || !messages[i].contains("role") || !messages[i]["role"].is_string() ||
        !messages[i].contains("content"))
      fail(a.messages + ": message " + std::to_string(i) + " needs a string \"role\" and a \"content\"");
  nlohmann::ordered_json vars = nlohmann::ordered_json::object();
  for (const auto& v : a.vars) {
    const size_t eq = v.find('=');
    if (eq == std::string::npos || eq == 0) fail("--var " + v + ": expected NAME=JSON");
    auto value = nlohmann::ordered_json::parse(v.substr(eq + 1), nullptr, false);
    if (value.is_discarded()) fail("--var " + v + ": the value is not JSON");
    vars[v.substr(0, eq)] = value;
  }
  const std::string text = chat_template_of(a.model).render(messages, a.add_generation_prompt, vars);
  std::fwrite(text.data(), 1, text.size(), stdout);  // exactly the rendered bytes
  std::fflush(stdout);
}

struct ConvertArgs {
  std::string from = "llama2c", input, tokenizer, out;
  bool overwrite = false;
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
  check_output(a.out, OutputKind::kModel, {"--out", {a.input, a.tokenizer}, a.overwrite});
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

// The flags generate and chat share.
void add_decoding_options(CLI::App* c, int64_t& max_new_tokens, SamplingParams& sampling, std::string& device,
                          std::string& weights) {
  c->add_option("--max-new-tokens", max_new_tokens, "tokens to generate at most")->capture_default_str();
  c->add_option("--temperature", sampling.temperature, "0 = greedy")->capture_default_str();
  c->add_option("--top-k", sampling.top_k, "sample from the K most likely tokens (0 = all)")->capture_default_str();
  c->add_option("--top-p", sampling.top_p, "nucleus sampling mass")->capture_default_str();
  c->add_option("--seed", sampling.seed, "random seed")->capture_default_str();
  c->add_option("--device", device, "cpu or cuda")->capture_default_str();
  c->add_option("--weights", weights, "f32, bf16 or int8 (Q8_0 blocks): the matrices' format for decoding on the CPU")
      ->capture_default_str();
}

}  // namespace

void add_lm_commands(CLI::App& app) {
  auto* cmd = app.add_subcommand("lm", "language models: generate, chat, chat-template, convert, tokenize, train-tokenizer, pretrain");
  cmd->require_subcommand(1);

  auto gen = std::make_shared<GenerateArgs>();
  auto* g = cmd->add_subcommand("generate", "generate text from a prompt, streaming it to stdout");
  g->add_option("--model", gen->model, "Hugging Face model directory or llama2.c .bin")->required();
  g->add_option("--prompt", gen->prompt, "prompt text")->required();
  g->add_option("--tokenizer", gen->tokenizer, "tokenizer file (default: the one in the model directory)");
  add_decoding_options(g, gen->max_new_tokens, gen->sampling, gen->device, gen->weights);
  g->callback([gen] { run_generate(*gen); });

  auto chat = std::make_shared<ChatArgs>();
  auto* ch = cmd->add_subcommand("chat", "answer a conversation through the model's chat template, streaming to stdout");
  ch->add_option("--model", chat->model, "Hugging Face model directory")->required();
  ch->add_option("--message", chat->messages, "a turn; repeat for user, assistant, ..., user")->required();
  ch->add_option("--system", chat->system, "system message");
  add_decoding_options(ch, chat->max_new_tokens, chat->sampling, chat->device, chat->weights);
  ch->callback([chat] { run_chat(*chat); });

  auto ct = std::make_shared<ChatTemplateArgs>();
  auto* t = cmd->add_subcommand("chat-template", "print a conversation rendered by the model's chat template");
  t->add_option("--model", ct->model, "Hugging Face model directory (its tokenizer_config.json)")->required();
  t->add_option("--messages", ct->messages, "JSON file: a list of {\"role\", \"content\"}")->required();
  t->add_flag("--add-generation-prompt", ct->add_generation_prompt, "end with the assistant's turn opening");
  t->add_option("--var", ct->vars, "another template variable, NAME=JSON (e.g. enable_thinking=false)");
  t->callback([ct] { run_chat_template(*ct); });

  auto conv = std::make_shared<ConvertArgs>();
  auto* c = cmd->add_subcommand("convert", "convert a llama2.c checkpoint to a Hugging Face directory");
  c->add_option("--from", conv->from, "source format (llama2c)")->capture_default_str();
  c->add_option("--input", conv->input, "llama2.c .bin checkpoint")->required();
  c->add_option("--tokenizer", conv->tokenizer, "tokenizer to copy in (.model, .json or llama2.c .bin)");
  c->add_option("--out", conv->out, "output directory (written atomically)")->required();
  c->add_flag("--overwrite", conv->overwrite, "replace an existing model directory in --out");
  c->callback([conv] { run_convert(*conv); });

  // ---- lm tokenize (tokenizer engineer): register below this line ----
  void add_lm_tokenize_commands(CLI::App& lm);  // lm_tokenize_cmd.cpp
  add_lm_tokenize_commands(*cmd);
  void add_lm_pretrain_commands(CLI::App& lm);  // lm_pretrain_cmd.cpp
  add_lm_pretrain_commands(*cmd);
}

}  // namespace userllm::cli
