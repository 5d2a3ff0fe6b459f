// `userllm finetune` end to end: flags reach the options, the run directory
// is complete, the summary line is printed, and bad flags fail clearly.
#include <gtest/gtest.h>

#include "common/atomic_file.h"
#include "common/run_dir.h"
#include "train/fixture.h"

using namespace userllm;

TEST(FinetuneCli, TrainsAndWritesTheRun) {
  test::ScratchDir dir;
  const auto s = test::make_tiny_setup(dir);
  const std::string common = "-q finetune --data " + s.data.string() + " --encoder " + s.encoder.string() + " --llm " +
                             s.llm.string() + " --task favorite-genre --history 10 --context 128 --batch-size 4 " +
                             "--eval-examples 4 --cross-every 2 --projector linear --threads 1";
  auto r = test::run_cli(common + " --integration cross-attention --strategy lora --lora-rank 2 --steps 3 --out " +
                         (dir / "run").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("step 3: train loss"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("parameters"), std::string::npos) << r.output;
  for (const char* f : {"run/config.json", "run/checkpoint.pt", "user_llm.json", "model.safetensors", "metrics.jsonl",
                        "summary.json"})
    EXPECT_TRUE(std::filesystem::exists(dir / "run" / f)) << f;
  auto opts = read_run_config(dir / "run" / "run").at("options");
  EXPECT_EQ(opts.at("task"), "favorite-genre");
  EXPECT_EQ(opts.at("steps"), 3);
  EXPECT_EQ(opts.at("history"), 10);
  EXPECT_EQ(opts.at("context"), 128);
  EXPECT_EQ(opts.at("model").at("cross_every"), 2);
  EXPECT_EQ(opts.at("model").at("projector_mlp"), false);
  EXPECT_EQ(opts.at("model").at("lora").at("r"), 2);
  auto summary = nlohmann::json::parse(read_file(dir / "run" / "summary.json"));
  EXPECT_EQ(summary.at("strategy"), "lora");
  EXPECT_EQ(summary.at("integration"), "cross-attention");
  EXPECT_LT(summary.at("trained_parameters").get<int64_t>(), summary.at("total_parameters").get<int64_t>());

  // A finished run is not overwritten; impossible combinations name the problem.
  r = test::run_cli(common + " --integration cross-attention --steps 3 --out " + (dir / "run").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("already holds a run"), std::string::npos) << r.output;
  r = test::run_cli(common + " --integration text --strategy proj --out " + (dir / "text").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("text integration"), std::string::npos) << r.output;
  r = test::run_cli("finetune --data " + s.data.string() + " --llm " + s.llm.string() + " --out " +
                    (dir / "x").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("--task is required"), std::string::npos) << r.output;
}
