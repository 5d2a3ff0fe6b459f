// Fine-tuning on a tiny synthetic setup: every integration learns, a killed
// run resumes exactly, the checkpoint holds only what was trained, and a
// finished run loads back to the model it trained.
#include <gtest/gtest.h>

#include <cmath>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/metrics.h"
#include "llm/checkpoint.h"
#include "tasks/batch.h"
#include "train/finetune.h"
#include "train/fixture.h"

using namespace userllm;
namespace fs = std::filesystem;

namespace {

train::FinetuneOptions tiny_options(const test::TinySetup& s, bridge::IntegrationKind integration,
                                    bridge::Strategy strategy = bridge::Strategy::kFull) {
  train::FinetuneOptions o;
  o.data = s.data.string();
  o.encoder = s.encoder.string();
  o.llm = s.llm.string();
  o.task = tasks::TaskKind::kNextItem;
  o.history = 12;
  o.max_train_per_user = 4;
  o.model.integration = integration;
  o.model.strategy = strategy;
  o.model.cross_heads = 2;
  o.model.perceiver_heads = 2;
  o.context = 160;
  o.answer_reserve = 16;
  o.steps = 30;
  o.batch_size = 8;
  o.lr = 3e-3;
  o.eval_every = 0;
  o.eval_examples = 8;
  o.log_every = 1;
  return o;
}

// Training losses by step (validation records left out).
std::vector<double> train_losses(const fs::path& run) {
  std::vector<double> out;
  for (const auto& r : read_jsonl(run / "metrics.jsonl"))
    if (!r.contains("split")) out.push_back(r.at("loss").get<double>());
  return out;
}

double mean(const std::vector<double>& v, size_t begin, size_t end) {
  double s = 0;
  for (size_t i = begin; i < end; ++i) s += v[i];
  return s / double(end - begin);
}

struct Case {
  const char* name;
  bridge::IntegrationKind integration;
  int64_t perceiver;
};

}  // namespace

TEST(Finetune, EveryIntegrationLearns) {
  test::ScratchDir dir;
  const auto s = test::make_tiny_setup(dir);
  for (const Case& c : {Case{"cross", bridge::IntegrationKind::kCrossAttention, 0},
                        Case{"cross-perceiver", bridge::IntegrationKind::kCrossAttention, 4},
                        Case{"soft", bridge::IntegrationKind::kSoftPrompt, 0},
                        Case{"text", bridge::IntegrationKind::kText, 0}}) {
    SCOPED_TRACE(c.name);
    auto o = tiny_options(s, c.integration);
    o.model.perceiver = c.perceiver;
    const fs::path run = dir / c.name;
    auto r = train::finetune(run, o, false);
    EXPECT_EQ(r.step, o.steps);
    auto losses = train_losses(run);
    ASSERT_EQ(losses.size(), size_t(o.steps));
    const double first = mean(losses, 0, 3), last = mean(losses, losses.size() - 3, losses.size());
    std::printf("%s: first steps %.3f, last steps %.3f\n", c.name, first, last);
    EXPECT_LT(last, first - 1.0) << "first steps " << first << ", last steps " << last;
    EXPECT_GT(first, 0.8 * std::log(320.0)) << "the random LLM should start near a uniform guess";
    EXPECT_TRUE(std::isfinite(r.val_loss));
    EXPECT_GT(r.val_loss, 0);
    // Full: everything trains but the encoder's next-event heads (pretraining only).
    auto model = train::build_model(o, data::Dataset::open(s.data), torch::kCPU);
    int64_t trained = 0;
    for (const auto& [name, t] : model->trained_parameters()) trained += t.numel();
    EXPECT_EQ(r.trained_parameters, trained);
    for (const auto& p : model->named_parameters()) {
      if (!p.value().requires_grad()) {
        EXPECT_TRUE(p.key().rfind("encoder.head_", 0) == 0 || p.key().rfind("encoder.bias_", 0) == 0) << p.key();
      }
    }
    auto summary = nlohmann::json::parse(read_file(run / "summary.json"));
    EXPECT_EQ(summary.at("steps"), o.steps);
    EXPECT_DOUBLE_EQ(summary.at("val_loss").get<double>(), r.val_loss);
  }
}

// Proj: the LLM and the encoder frozen, only the bridge learns; the loss must
// still fall, so gradients reach it through the LLM (both ways of reading the
// user). A random frozen LLM barely listens to anything: this needs a trained one.
TEST(Finetune, TheBridgeAloneLearns) {
  USERLLM_SHARED_OR_SKIP(model, "models/stories260K/stories260K.bin");
  test::ScratchDir dir;
  const auto s = test::make_tiny_setup(dir);
  for (auto integration : {bridge::IntegrationKind::kCrossAttention, bridge::IntegrationKind::kSoftPrompt}) {
    const char* name = bridge::integration_name(integration);
    SCOPED_TRACE(name);
    auto o = tiny_options(s, integration, bridge::Strategy::kProj);
    o.llm = model.string();
    o.tokenizer = (model.parent_path() / "tok512.bin").string();
    o.task = tasks::TaskKind::kFavoriteGenre;
    train::finetune(dir / name, o, false);
    auto losses = train_losses(dir / name);
    const double first = mean(losses, 0, 3), last = mean(losses, losses.size() - 3, losses.size());
    std::printf("%s, proj: first steps %.3f, last steps %.3f\n", name, first, last);
    EXPECT_LT(last, first - 0.3) << "first steps " << first << ", last steps " << last;
  }
}

TEST(Finetune, ResumeAfterAKillEqualsAnUninterruptedRun) {
  test::ScratchDir dir;
  const auto s = test::make_tiny_setup(dir);
  auto o = tiny_options(s, bridge::IntegrationKind::kCrossAttention);  // encoder dropout draws from the RNG
  o.steps = 12;
  o.eval_every = 4;
  train::finetune(dir / "whole", o, false);

  auto killed = o;
  killed.stop_after = 6;  // the last checkpoint is at step 4; steps 5-6 are logged, then lost
  auto r = train::finetune(dir / "split", killed, false);
  EXPECT_EQ(r.step, 6);
  EXPECT_FALSE(fs::exists(dir / "split" / "model.safetensors"));
  EXPECT_THROW(train::finetune(dir / "split", o, false), Error);  // no overwrite without --resume
  auto resumed = o;
  resumed.data = "ignored: a resumed run reads its recorded options";
  train::finetune(dir / "split", resumed, true);

  auto a = llm::read_safetensors(dir / "whole" / "model.safetensors");
  auto b = llm::read_safetensors(dir / "split" / "model.safetensors");
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    EXPECT_LE((t - b.at(name)).abs().max().item<double>(), 1e-6) << name;
  }
  // Metrics: one record per step, the same losses (the steps past the checkpoint were truncated and redone).
  EXPECT_EQ(train_losses(dir / "split"), train_losses(dir / "whole"));
  EXPECT_THROW(train::finetune(dir / "nothing", o, true), Error);

  // Resuming the finished run changes nothing: no step, no metrics line, no rewritten summary.
  std::vector<std::string> before;
  for (auto f : {"summary.json", "metrics.jsonl", "model.safetensors"}) before.push_back(read_file(dir / "split" / f));
  auto again = train::finetune(dir / "split", resumed, true);
  EXPECT_TRUE(again.finished_before);
  EXPECT_EQ(again.step, 12);
  int i = 0;
  for (auto f : {"summary.json", "metrics.jsonl", "model.safetensors"}) EXPECT_EQ(read_file(dir / "split" / f), before[i++]) << f;
}

TEST(Finetune, CheckpointHoldsOnlyTrainedParameters) {
  test::ScratchDir dir;
  const auto s = test::make_tiny_setup(dir);
  auto ds = data::Dataset::open(s.data);
  struct StrategyCase {
    const char* name;
    bridge::Strategy strategy;
  };
  for (auto sc : {StrategyCase{"proj", bridge::Strategy::kProj}, StrategyCase{"lora", bridge::Strategy::kLora}}) {
    SCOPED_TRACE(sc.name);
    auto o = tiny_options(s, bridge::IntegrationKind::kCrossAttention, sc.strategy);
    o.model.perceiver = 4;
    o.steps = 2;
    auto r = train::finetune(dir / sc.name, o, false);
    auto saved = llm::read_safetensors(dir / sc.name / "model.safetensors");
    auto model = train::build_model(o, ds, torch::kCPU);
    std::set<std::string> want, got;
    for (const auto& [name, t] : model->trained_parameters()) want.insert(name);
    for (const auto& [name, t] : saved) got.insert(name);
    EXPECT_EQ(got, want);
    int64_t n = 0;
    for (const auto& [name, t] : saved) n += t.numel();
    EXPECT_EQ(n, r.trained_parameters);
    EXPECT_LT(r.trained_parameters, r.total_parameters);
    bool has_encoder = false;
    for (const auto& name : got) {
      has_encoder |= name.rfind("encoder.", 0) == 0;
      if (sc.strategy == bridge::Strategy::kProj) {
        EXPECT_NE(name.rfind("llm.", 0), 0u) << name;
        EXPECT_NE(name.rfind("encoder.", 0), 0u) << name;
      } else if (name.rfind("llm.", 0) == 0) {
        EXPECT_NE(name.find("lora"), std::string::npos) << name;
      }
    }
    EXPECT_EQ(has_encoder, sc.strategy == bridge::Strategy::kLora);
  }
}

TEST(Finetune, LoadRunRebuildsTheTrainedModel) {
  test::ScratchDir dir;
  const auto s = test::make_tiny_setup(dir);
  auto o = tiny_options(s, bridge::IntegrationKind::kSoftPrompt, bridge::Strategy::kEnc);
  o.model.perceiver = 4;
  o.steps = 6;
  o.eval_examples = 0;  // every validation example, in order: the loss below sees the same batches
  auto r = train::finetune(dir / "run", o, false);

  auto loaded = train::load_run(dir / "run");
  ASSERT_TRUE(loaded.events);
  ASSERT_TRUE(loaded.ground_truth);
  EXPECT_EQ(loaded.options.history, o.history);
  EXPECT_EQ(loaded.prompt.user_vectors, 4);
  tasks::TaskOptions to;
  to.history = o.history;
  to.max_train_per_user = o.max_train_per_user;
  auto val = tasks::build_examples(*loaded.dataset, to, data::Split::kValidation);
  ASSERT_FALSE(val.empty());
  // The validation loss of the loaded model, batched as training did, is the one training logged last.
  auto untrained = train::build_model(loaded.options, *loaded.dataset, torch::kCPU);
  torch::NoGradGuard no_grad;
  double total = 0, tokens = 0, untrained_total = 0;
  for (size_t i = 0; i < val.size(); i += size_t(o.batch_size)) {
    std::vector<tasks::EncodedExample> rows;
    for (size_t j = i; j < std::min(val.size(), i + size_t(o.batch_size)); ++j)
      rows.push_back(tasks::encode_example(*loaded.dataset, *loaded.tokenizer, val[j], loaded.prompt));
    auto b = tasks::collate(rows, loaded.events.get(), torch::kCPU);
    const double n = b.loss_mask.narrow(1, 1, b.loss_mask.size(1) - 1).sum().item<double>();
    total += loaded.model->loss(b.history, b.valid, b.ids, b.key_mask, b.loss_mask).item<double>() * n;
    untrained_total += untrained->loss(b.history, b.valid, b.ids, b.key_mask, b.loss_mask).item<double>() * n;
    tokens += n;
  }
  EXPECT_NEAR(total / tokens, r.val_loss, 1e-5);
  EXPECT_GT(std::abs(untrained_total / tokens - r.val_loss), 1e-3);  // the trained weights matter
  // The frozen LLM is the source's.
  auto src = llm::read_safetensors(s.llm / "model.safetensors");
  auto embed = loaded.model->llm->model->embed_tokens->weight;
  EXPECT_TRUE(torch::equal(embed, src.at("model.embed_tokens.weight")));

  // A run refers to its frozen sources: a changed source is refused, not silently used.
  {
    std::FILE* f = std::fopen((s.llm / "config.json").c_str(), "a");
    ASSERT_TRUE(f);
    std::fputs("\n", f);  // still the same config, but not the same bytes
    std::fclose(f);
  }
  try {
    train::load_run(dir / "run");
    ADD_FAILURE() << "load_run accepted a changed LLM";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has changed"), std::string::npos) << e.what();
  }
}

TEST(Finetune, GatesLearnAtTheirOwnRate) {
  test::ScratchDir dir;
  const auto s = test::make_tiny_setup(dir);
  // One AdamW step from zero moves a parameter by lr (its first update is the gradient's sign).
  for (double scale : {1.0, 50.0}) {
    auto o = tiny_options(s, bridge::IntegrationKind::kCrossAttention);
    o.steps = 1;
    o.warmup = 0;
    o.lr = 1e-3;
    o.gate_lr_scale = scale;
    const fs::path run = dir / ("scale" + std::to_string(int(scale)));
    train::finetune(run, o, false);
    int gates = 0;
    for (const auto& [name, t] : llm::read_safetensors(run / "model.safetensors"))
      if (name.find("_gate") != std::string::npos) {
        EXPECT_NEAR(std::abs(t.item<double>()), o.lr * scale, 1e-3 * o.lr * scale) << name;
        ++gates;
      }
    EXPECT_EQ(gates, 4);
  }
}

TEST(Finetune, RandomEncoderAblationIsSeededAndReloads) {
  test::ScratchDir dir;
  const auto s = test::make_tiny_setup(dir);
  auto ds = data::Dataset::open(s.data);
  auto o = tiny_options(s, bridge::IntegrationKind::kSoftPrompt, bridge::Strategy::kProj);
  o.steps = 2;
  o.random_encoder = true;
  train::finetune(dir / "run", o, false);
  auto pretrained = train::build_model([&] { auto p = o; p.random_encoder = false; return p; }(), ds, torch::kCPU);
  auto loaded = train::load_run(dir / "run");
  EXPECT_TRUE(loaded.options.random_encoder);
  auto a = loaded.model->encoder->named_parameters(), b = pretrained->encoder->named_parameters();
  auto c = train::build_model(o, ds, torch::kCPU)->encoder->named_parameters();
  bool differs = false;
  for (const auto& p : a) {
    differs |= !torch::equal(p.value(), b[p.key()]);
    EXPECT_TRUE(torch::equal(p.value(), c[p.key()])) << p.key();  // the same fresh weights each time
  }
  EXPECT_TRUE(differs) << "the ablation kept the pretrained weights";
}

TEST(Finetune, RejectsImpossibleOptions) {
  test::ScratchDir dir;
  const auto s = test::make_tiny_setup(dir);
  auto o = tiny_options(s, bridge::IntegrationKind::kText, bridge::Strategy::kProj);
  EXPECT_THROW(train::finetune(dir / "a", o, false), Error);  // text has nothing but the LLM to train
  o.model.strategy = bridge::Strategy::kFull;
  o.model.perceiver = 4;
  EXPECT_THROW(train::finetune(dir / "b", o, false), Error);  // text reads no user vectors
  o = tiny_options(s, bridge::IntegrationKind::kCrossAttention);
  o.encoder = (dir / "missing").string();
  EXPECT_THROW(train::finetune(dir / "c", o, false), Error);
  o = tiny_options(s, bridge::IntegrationKind::kSoftPrompt);
  o.context = 100000;
  EXPECT_THROW(train::finetune(dir / "d", o, false), Error);  // more than the LLM's positions
  o.context = 8;
  EXPECT_THROW(train::finetune(dir / "e", o, false), Error);  // 12 soft-prompt vectors leave no room
  EXPECT_THROW(train::load_run(dir / "e"), Error);
  auto j = train::to_json(tiny_options(s, bridge::IntegrationKind::kSoftPrompt));
  EXPECT_EQ(train::to_json(train::finetune_options_from_json(j)), j);
  j.erase("steps");
  EXPECT_THROW(train::finetune_options_from_json(j), Error);
}
