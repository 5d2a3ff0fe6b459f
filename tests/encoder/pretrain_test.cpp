// Pretraining on planted data: both fusions learn, --resume reproduces an
// uninterrupted run's loss curve, checkpoints reject damage, and the trained
// model beats popularity on the planted next-item task.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/metrics.h"
#include "encoder/batch.h"
#include "encoder/checkpoint.h"
#include "encoder/evaluate.h"
#include "encoder/pretrain.h"
#include "planted.h"
#include "test_util.h"

namespace enc = userllm::encoder;
using userllm::test::ScratchDir;

namespace {

enc::PretrainOptions tiny_run(const enc::Events& ev, enc::Fusion fusion, int64_t steps) {
  enc::PretrainOptions o;
  o.model.fields = enc::fields_for(ev, 16, 4);
  o.model.fusion = fusion;
  o.model.layers = 1;
  o.model.heads = 2;
  o.model.dim = 16;
  o.model.ffn_mult = 2;
  o.model.max_len = 12;
  o.model.dropout = 0.1;
  o.steps = steps;
  o.batch_size = 16;
  o.lr = 1e-2;
  o.warmup = 5;
  o.eval_every = 10;
  o.eval_users = 20;
  o.log_every = 1;
  o.threads = 1;
  return o;
}

std::vector<double> losses(const std::filesystem::path& run, const std::string& key = "loss") {
  std::vector<double> out;
  for (const auto& r : userllm::read_jsonl(run / "metrics.jsonl"))
    if (r.contains(key)) {
      EXPECT_EQ(r["step"].get<int64_t>(), static_cast<int64_t>(out.size()) + 1);
      out.push_back(r[key].get<double>());
    }
  return out;
}

class PretrainTest : public ::testing::TestWithParam<enc::Fusion> {};

TEST_P(PretrainTest, LossFallsAndBeatsPopularity) {
  ScratchDir dir;
  auto ev = userllm::test::planted_events();
  auto o = tiny_run(ev, GetParam(), 200);
  o.lr = 2e-2;
  enc::pretrain(ev, dir / "run", o, false);
  // The rating is uniform noise (ln 10 = 2.3 nats at best); item and genre are learnable.
  for (const char* key : {"loss_item", "loss_genre"}) {
    auto l = losses(dir / "run", key);
    ASSERT_EQ(l.size(), 200u);
    double first = (l[0] + l[1] + l[2]) / 3, last = (l[197] + l[198] + l[199]) / 3;
    EXPECT_LT(last, 0.6 * first) << key << ": first " << first << " last " << last;
  }

  auto model = enc::load_encoder(dir / "run", torch::kCPU);
  enc::EvalOptions eo;
  eo.progress = false;
  auto r = enc::evaluate(model, ev, eo, torch::kCPU);
  EXPECT_EQ(r.model.users, 60);
  EXPECT_GT(r.model.recall10, r.popularity.recall10 + 0.1)
      << "model " << r.model.recall10 << " popularity " << r.popularity.recall10;
  EXPECT_LE(r.model.recall1, r.model.recall5);
  EXPECT_LE(r.model.recall5, r.model.recall10);
}

TEST_P(PretrainTest, ResumeReproducesUninterruptedRun) {
  ScratchDir dir;
  auto ev = userllm::test::planted_events();
  auto o = tiny_run(ev, GetParam(), 20);
  o.checkpoint_every = 5;
  o.sampled_negatives = 8;  // the negatives draw from the RNG, which must be restored too
  enc::pretrain(ev, dir / "straight", o, false);

  auto killed = o;
  killed.stop_after = 12;  // dies after step 12; the last checkpoint is step 10
  enc::pretrain(ev, dir / "resumed", killed, false);
  EXPECT_EQ(losses(dir / "resumed").size(), 12u);
  enc::PretrainOptions flags;  // a resumed run takes its options from config.json
  flags.threads = 1;
  auto r = enc::pretrain(ev, dir / "resumed", flags, true);
  EXPECT_EQ(r.step, 20);

  auto a = losses(dir / "straight"), b = losses(dir / "resumed");
  ASSERT_EQ(a.size(), 20u);
  ASSERT_EQ(b.size(), 20u);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6) << "step " << i + 1;

  // Resuming the finished run changes nothing.
  const std::string metrics = userllm::read_file(dir / "resumed" / "metrics.jsonl");
  const std::string checkpoint = userllm::read_file(dir / "resumed" / "checkpoint.pt");
  auto again = enc::pretrain(ev, dir / "resumed", flags, true);
  EXPECT_TRUE(again.finished_before);
  EXPECT_EQ(again.step, 20);
  EXPECT_DOUBLE_EQ(again.last_loss, r.last_loss);
  EXPECT_EQ(userllm::read_file(dir / "resumed" / "metrics.jsonl"), metrics);
  EXPECT_EQ(userllm::read_file(dir / "resumed" / "checkpoint.pt"), checkpoint);
}

INSTANTIATE_TEST_SUITE_P(Fusions, PretrainTest, ::testing::Values(enc::Fusion::kEarly, enc::Fusion::kLate),
                         [](const auto& info) { return std::string(enc::fusion_name(info.param)); });

TEST(Pretrain, RefusesToOverwriteARun) {
  ScratchDir dir;
  auto ev = userllm::test::planted_events(10, 8);
  auto o = tiny_run(ev, enc::Fusion::kEarly, 2);
  enc::pretrain(ev, dir / "run", o, false);
  EXPECT_THROW(enc::pretrain(ev, dir / "run", o, false), userllm::Error);
}

TEST(Checkpoint, RejectsTruncatedAndMismatchedFiles) {
  ScratchDir dir;
  auto ev = userllm::test::planted_events(10, 8);
  auto o = tiny_run(ev, enc::Fusion::kEarly, 2);
  enc::pretrain(ev, dir / "run", o, false);
  EXPECT_NO_THROW(enc::load_encoder(dir / "run", torch::kCPU));

  // A model of another shape must not load these weights.
  auto other = o.model;
  other.dim = 32;
  enc::save_encoder_options(dir / "run", other);
  EXPECT_THROW(enc::load_encoder(dir / "run", torch::kCPU), userllm::Error);
  enc::save_encoder_options(dir / "run", o.model);

  auto path = dir / "run" / "checkpoint.pt";
  auto size = std::filesystem::file_size(path);
  std::filesystem::resize_file(path, size / 2);
  EXPECT_THROW(enc::load_encoder(dir / "run", torch::kCPU), userllm::Error);
  std::ofstream(path, std::ios::trunc) << "not a checkpoint";
  EXPECT_THROW(enc::load_encoder(dir / "run", torch::kCPU), userllm::Error);
}

TEST(Schedule, WarmupThenCosine) {
  enc::PretrainOptions o;
  o.lr = 1.0;
  o.min_lr_ratio = 0.1;
  o.warmup = 10;
  EXPECT_DOUBLE_EQ(enc::learning_rate(o, 0, 110), 0.1);
  EXPECT_DOUBLE_EQ(enc::learning_rate(o, 9, 110), 1.0);
  EXPECT_DOUBLE_EQ(enc::learning_rate(o, 10, 110), 1.0);
  EXPECT_NEAR(enc::learning_rate(o, 60, 110), 0.55, 1e-12);
  EXPECT_NEAR(enc::learning_rate(o, 110, 110), 0.1, 1e-12);
  EXPECT_GT(enc::learning_rate(o, 30, 110), enc::learning_rate(o, 31, 110));
}

TEST(Windows, CoverTrainEventsAndEndAtTheLast) {
  auto ev = userllm::test::planted_events(3, 30);
  auto w = enc::training_windows(ev, 10, 5);
  for (uint32_t u = 0; u < 3; ++u) {
    uint64_t last_end = 0, covered_from = UINT64_MAX;
    for (const auto& s : w)
      if (s.user == u) {
        EXPECT_LE(s.end - s.begin, 10u);
        EXPECT_LE(s.end, ev.train_end[u]);
        last_end = std::max(last_end, s.end);
        covered_from = std::min(covered_from, s.begin);
      }
    EXPECT_EQ(last_end, ev.train_end[u]);
    EXPECT_EQ(covered_from, ev.offsets[u]);
  }
}

}  // namespace
