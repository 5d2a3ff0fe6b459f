// userllm lm tokenize / lm train-tokenizer: text <-> token ids with any
// tokenizer we load, and training a byte-level BPE tokenizer.json.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>
#include <sstream>

#include "cli/commands.h"
#include "common/error.h"
#include "common/outputs.h"
#include "llm/bpe_trainer.h"
#include "llm/tokenizer.h"

namespace userllm::cli {
namespace {

struct TokenizeArgs {
  std::string tokenizer, text, decode;
  bool no_bos = false, eos = false;
};

void run_tokenize(const TokenizeArgs& a) {
  auto tok = llm::load_tokenizer(a.tokenizer);
  if (!a.decode.empty()) {
    std::vector<int32_t> ids;
    std::istringstream in(a.decode);
    std::string word;
    while (in >> word) {
      size_t used = 0;
      long long v = 0;
      try {
        v = std::stoll(word, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != word.size() || v < 0 || v >= tok->vocab_size())
        fail("--decode: \"" + word + "\" is not a token id in 0.." + std::to_string(tok->vocab_size() - 1));
      ids.push_back(int32_t(v));
    }
    std::printf("%s\n", tok->decode(ids).c_str());
    return;
  }
  const auto ids = tok->encode(a.text, !a.no_bos, a.eos);
  std::string line;
  for (size_t i = 0; i < ids.size(); i++) line += (i ? " " : "") + std::to_string(ids[i]);
  std::printf("%s\n", line.c_str());
}

struct TrainArgs {
  std::vector<std::string> inputs;
  std::string out;
  bool overwrite = false;
  llm::BpeTrainerOptions opts;
};

}  // namespace

// Registered by add_lm_commands() on the `lm` subcommand.
void add_lm_tokenize_commands(CLI::App& lm) {
  auto tk = std::make_shared<TokenizeArgs>();
  auto* t = lm.add_subcommand("tokenize", "print the token ids of a text (or the text of ids with --decode)");
  t->add_option("--tokenizer", tk->tokenizer, "tokenizer.json, SentencePiece .model, llama2.c tokenizer.bin or a model directory")
      ->required();
  auto* text = t->add_option("--text", tk->text, "text to encode");
  auto* dec = t->add_option("--decode", tk->decode, "space-separated token ids to decode instead");
  text->excludes(dec);
  t->add_flag("--no-bos", tk->no_bos, "do not prepend BOS");
  t->add_flag("--eos", tk->eos, "append EOS");
  t->callback([tk, text, dec] {
    if (!*text && !*dec) fail("lm tokenize: give --text or --decode");
    run_tokenize(*tk);
  });

  auto tr = std::make_shared<TrainArgs>();
  auto* r = lm.add_subcommand("train-tokenizer", "train a byte-level BPE tokenizer.json on text files (one document per line)");
  r->add_option("--input", tr->inputs, "text files, plain or gzip")->required();
  r->add_option("--out", tr->out, "tokenizer.json to write")->required();
  r->add_option("--vocab-size", tr->opts.vocab_size, "total tokens: specials + 256 bytes + merges")->capture_default_str();
  r->add_option("--min-frequency", tr->opts.min_frequency, "never merge pairs seen fewer times")->capture_default_str();
  r->add_flag("--overwrite", tr->overwrite, "replace an existing file");
  r->callback([tr] {
    std::vector<std::filesystem::path> inputs(tr->inputs.begin(), tr->inputs.end());
    check_output(tr->out, OutputKind::kFile, {"--out", inputs, tr->overwrite});
    llm::train_bpe_tokenizer(inputs, tr->opts, tr->out);
    spdlog::info("wrote {}", tr->out);
  });
}

}  // namespace userllm::cli
