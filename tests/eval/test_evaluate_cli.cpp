// `userllm evaluate` end to end on a run fine-tuned for a few steps: one JSON
// object on stdout, the same in RUN/eval-SPLIT.json, and clear errors.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "train/fixture.h"

using namespace userllm;

TEST(EvaluateCli, PrintsAndWritesTheResult) {
  test::ScratchDir dir;
  const auto s = test::make_tiny_setup(dir);
  const std::string run = (dir / "run").string();
  auto r = test::run_cli("-q finetune --data " + s.data.string() + " --encoder " + s.encoder.string() + " --llm " +
                         s.llm.string() + " --task next-item --integration soft-prompt --perceiver 4 --history 8" +
                         " --context 128 --batch-size 4 --steps 2 --eval-examples 4 --threads 1 --out " + run);
  ASSERT_EQ(r.exit_code, 0) << r.output;

  r = test::run_cli("-q evaluate --run " + run + " --split validation --max-examples 3 --latency-requests 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The JSON is the last line (run_cli merges stderr, where warnings may go).
  std::string last = r.output.substr(r.output.rfind('\n', r.output.size() - 2) + 1);
  auto printed = nlohmann::json::parse(last);
  EXPECT_EQ(printed, nlohmann::json::parse(read_file(dir / "run" / "eval-validation.json")));
  EXPECT_EQ(printed.at("task"), "next-item");
  EXPECT_EQ(printed.at("split"), "validation");
  EXPECT_EQ(printed.at("run"), run);
  EXPECT_EQ(printed.at("examples"), 3);
  for (const char* k : {"recall@1", "recall@5", "recall@10", "hit_ratio@1_of_20"})
    EXPECT_TRUE(printed.at("metrics").contains(k)) << k;
  const auto& cost = printed.at("cost");
  EXPECT_GT(cost.at("flops").at("perceiver").get<int64_t>(), 0);
  EXPECT_EQ(cost.at("flops").at("cross_attention"), 0);
  EXPECT_GT(cost.at("latency_ms").get<double>(), 0.0);
  EXPECT_GT(cost.at("llm_input_tokens").get<double>(), 4.0);  // the 4 latents, then the prompt

  r = test::run_cli("-q evaluate --run " + run + " --split train");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("--split must be test or validation"), std::string::npos) << r.output;
  r = test::run_cli("-q evaluate --run " + (dir / "missing").string());
  EXPECT_EQ(r.exit_code, 1) << r.output;
}
