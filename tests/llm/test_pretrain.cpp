// lm pretrain: a tiny Llama learns a templated corpus far better than a
// unigram model, the output directory loads and generates, and a killed run
// resumed from its checkpoint ends exactly where straight training does.
#include <gtest/gtest.h>

#include <cmath>

#include <fstream>
#include <random>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/metrics.h"
#include "common/run_dir.h"
#include "llm/checkpoint.h"
#include "llm/generate.h"
#include "llm/packed_weight.h"
#include "llm/pretrain.h"
#include "llm/tokenizer.h"
#include "test_util.h"

namespace userllm::test {
namespace {

// Sentences with grammar: a model that reads context predicts far better than token frequencies.
std::filesystem::path write_corpus(const ScratchDir& dir, int docs) {
  const std::vector<std::string> adj{"red", "quiet", "broken", "golden", "wild", "lost"};
  const std::vector<std::string> noun{"harbor", "forest", "mirror", "island", "canyon", "storm"};
  const std::vector<std::string> genre{"horror", "comedy", "drama", "romance", "fantasy"};
  std::mt19937 rng(7);
  auto pick = [&](const std::vector<std::string>& v) { return v[rng() % v.size()]; };
  auto path = dir / "corpus.txt";
  std::ofstream f(path);
  for (int i = 0; i < docs; ++i)
    f << "The " << pick(adj) << " " << pick(noun) << " (" << 1950 + rng() % 70 << ") is a " << pick(genre)
      << " film about a " << pick(adj) << " " << pick(noun) << ".\n";
  return path;
}

llm::LmPretrainOptions tiny_options() {
  llm::LmPretrainOptions o;
  o.tokenizer_vocab = 320;
  o.layers = 2;
  o.dim = 32;
  o.heads = 4;
  o.kv_heads = 2;
  o.seq_len = 32;
  o.batch_size = 8;
  o.steps = 120;
  o.lr = 5e-3;
  o.eval_every = 40;
  o.eval_sequences = 64;
  return o;
}

TEST(LmPretrain, BeatsUnigramAndWritesALoadableModel) {
  ScratchDir dir;
  auto corpus = write_corpus(dir, 1500);
  auto out = dir / "lm";
  auto r = llm::pretrain_lm(corpus, out, tiny_options(), false);
  EXPECT_EQ(r.step, 120);
  EXPECT_GT(r.unigram_perplexity, 10.0);
  EXPECT_LT(r.val_perplexity, 0.5 * r.unigram_perplexity);

  auto summary = nlohmann::json::parse(read_file(out / "summary.json"));
  EXPECT_DOUBLE_EQ(summary.at("val_perplexity").get<double>(), r.val_perplexity);
  EXPECT_DOUBLE_EQ(summary.at("unigram_perplexity").get<double>(), r.unigram_perplexity);
  auto metrics = read_jsonl(out / "metrics.jsonl");
  int validations = 0;
  for (const auto& m : metrics) validations += m.value("split", "") == "validation";
  EXPECT_EQ(validations, 3);  // steps 40, 80, 120
  // Hugging Face's N(0, 0.02) init: the first step's loss is about ln(vocab) (it was ~100 nats).
  ASSERT_EQ(metrics.at(0).at("step").get<int64_t>(), 1);
  const double first = metrics.at(0).at("loss").get<double>();
  EXPECT_NEAR(first, std::log(double(llm::load_tokenizer(out)->vocab_size())), 0.3);
  EXPECT_EQ(read_run_config(out / "run").at("options"), llm::to_json(tiny_options()));

  auto model = llm::load_hf_model(out);
  auto tok = llm::load_tokenizer(out);
  EXPECT_EQ(model->config().vocab_size, tok->vocab_size());
  auto ids = tok->encode("The red harbor (1990) is a");
  std::vector<int64_t> prompt(ids.begin(), ids.end());
  llm::GenerateOptions go;
  go.max_new_tokens = 3;
  auto gen = llm::generate(model, {prompt}, go);
  ASSERT_EQ(gen.size(), 1u);
  std::vector<int32_t> new_ids(gen[0].begin(), gen[0].end());
  const std::string text = tok->decode(new_ids);
  EXPECT_FALSE(text.empty());

  auto cli = run_cli("lm generate --model " + out.string() + " --prompt 'The wild' --max-new-tokens 8");
  EXPECT_EQ(cli.exit_code, 0) << cli.output;
  EXPECT_NE(cli.output.find("The wild"), std::string::npos) << cli.output;
}

// The accuracy bar for packed weights: held-out perplexity of a trained
// LM within 1% of float32, and `lm generate --weights` end to end.
TEST(LmPretrain, PackedWeightsKeepHeldOutPerplexity) {
  ScratchDir dir;
  auto corpus = write_corpus(dir, 1500);
  auto o = tiny_options();
  o.dim = 64;  // two Q8_0 blocks per row
  llm::pretrain_lm(corpus, dir / "lm", o, false);
  auto tok = llm::load_tokenizer(dir / "lm");
  // Held-out sentences: the corpus grammar, not drawn from its seed.
  const std::vector<std::string> lines{"The golden canyon (1961) is a drama film about a quiet storm.",
                                       "The lost mirror (2004) is a comedy film about a red island.",
                                       "The wild forest (1977) is a horror film about a broken harbor.",
                                       "The quiet island (1989) is a fantasy film about a golden mirror.",
                                       "The broken storm (1953) is a romance film about a lost canyon."};
  auto perplexity = [&](llm::WeightFormat f) {
    auto m = llm::load_hf_model(dir / "lm");
    m->pack_weights(f);
    torch::NoGradGuard g;
    double nll = 0;
    int64_t n = 0;
    for (const auto& line : lines) {
      auto enc = tok->encode(line);
      auto ids = torch::tensor(std::vector<int64_t>(enc.begin(), enc.end())).unsqueeze(0);
      const int64_t T = ids.size(1);
      auto logits = m->forward(ids.narrow(1, 0, T - 1)).squeeze(0);
      nll += torch::nn::functional::cross_entropy(logits, ids.narrow(1, 1, T - 1).squeeze(0),
                                                  torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                 .item<double>();
      n += T - 1;
    }
    return std::exp(nll / double(n));
  };
  const double f32 = perplexity(llm::WeightFormat::kF32);
  EXPECT_LT(f32, 5.0);  // it learnt the grammar
  for (auto f : {llm::WeightFormat::kBF16, llm::WeightFormat::kInt8})
    EXPECT_NEAR(perplexity(f) / f32, 1.0, 0.01) << llm::name(f) << ": " << perplexity(f) << " against " << f32;

  const std::string gen = "lm generate --model " + (dir / "lm").string() + " --prompt 'The wild' --max-new-tokens 8";
  auto q = run_cli(gen + " --weights int8");
  ASSERT_EQ(q.exit_code, 0) << q.output;
  EXPECT_NE(q.output.find("The wild"), std::string::npos) << q.output;
  auto bad = run_cli(gen + " --weights q4");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("--weights: expected f32, bf16 or int8"), std::string::npos) << bad.output;
}

TEST(LmPretrain, ResumeAfterAKillMatchesStraightTraining) {
  ScratchDir dir;
  auto corpus = write_corpus(dir, 600);
  auto o = tiny_options();
  o.steps = 60;
  o.eval_every = 20;
  auto straight = llm::pretrain_lm(corpus, dir / "straight", o, false);

  o.stop_after = 30;  // dies after step 30; the last checkpoint is step 20
  EXPECT_EQ(llm::pretrain_lm(corpus, dir / "killed", o, false).step, 30);
  EXPECT_THROW(llm::pretrain_lm(corpus, dir / "killed", o, false), Error);  // no silent overwrite
  llm::LmPretrainOptions ignored;  // resume takes the recorded options
  auto resumed = llm::pretrain_lm(corpus, dir / "killed", ignored, true);
  EXPECT_EQ(resumed.step, 60);
  EXPECT_DOUBLE_EQ(resumed.last_loss, straight.last_loss);
  EXPECT_DOUBLE_EQ(resumed.val_perplexity, straight.val_perplexity);
  EXPECT_EQ(read_jsonl(dir / "killed" / "metrics.jsonl").size(), read_jsonl(dir / "straight" / "metrics.jsonl").size());

  // Resuming the finished run changes nothing.
  const std::string summary = read_file(dir / "killed" / "summary.json"), metrics = read_file(dir / "killed" / "metrics.jsonl");
  auto again = llm::pretrain_lm(corpus, dir / "killed", ignored, true);
  EXPECT_TRUE(again.finished_before);
  EXPECT_EQ(again.step, 60);
  EXPECT_EQ(read_file(dir / "killed" / "summary.json"), summary);
  EXPECT_EQ(read_file(dir / "killed" / "metrics.jsonl"), metrics);
}

TEST(LmPretrain, Cli) {
  ScratchDir dir;
  auto corpus = write_corpus(dir, 300);
  const std::string args = "lm pretrain --corpus " + corpus.string() + " --out " + (dir / "lm").string() +
                           " --tokenizer-vocab 300 --layers 1 --dim 16 --heads 2 --kv-heads 1 --seq-len 16"
                           " --batch-size 4 --steps 10 --eval-every 5";
  auto bad = run_cli(args + " --device tpu");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("--device tpu: unknown device"), std::string::npos) << bad.output;
  auto r = run_cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto summary = nlohmann::json::parse(read_file(dir / "lm" / "summary.json"));
  EXPECT_EQ(summary.at("steps"), 10);
  EXPECT_NE(r.output.find("unigram perplexity"), std::string::npos) << r.output;
  auto again = run_cli(args);  // a finished run is not overwritten
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.output.find("--resume"), std::string::npos) << again.output;
}

TEST(LmPretrain, RejectsBadInput) {
  ScratchDir dir;
  auto o = tiny_options();
  EXPECT_THROW(llm::pretrain_lm(dir / "missing.txt", dir / "a", o, false), Error);
  write_file_atomic(dir / "bad.txt", "fine line\nbad \xff byte\n");
  EXPECT_THROW(llm::pretrain_lm(dir / "bad.txt", dir / "b", o, false), Error);
  auto corpus = write_corpus(dir, 50);
  o.heads = 3;
  EXPECT_THROW(llm::pretrain_lm(corpus, dir / "c", o, false), Error);
  EXPECT_THROW(llm::pretrain_lm(corpus, dir / "nothing", tiny_options(), true), Error);  // nothing to resume
}

}  // namespace
}  // namespace userllm::test
