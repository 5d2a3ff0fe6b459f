// `userllm finetune` end to end: flags reach the options, the run directory
// is complete, the summary line is printed, and bad flags fail clearly.
#include <gtest/gtest.h>

#include <fstream>

#include "common/atomic_file.h"
#include "common/metrics.h"
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

// A run stores its sources relative to itself: moved together with them it still evaluates; moved
// alone it names what is missing, and --data/--encoder/--llm say where the sources are now.
TEST(FinetuneCli, AMovedRunEvaluatesWithItsSources) {
  test::ScratchDir dir;
  const auto s = test::make_tiny_setup(dir / "a");
  auto r = test::run_cli("-q finetune --data " + s.data.string() + " --encoder " + s.encoder.string() + " --llm " +
                         s.llm.string() + " --task favorite-genre --history 10 --context 128 --batch-size 4 " +
                         "--eval-examples 4 --threads 1 --integration cross-attention --steps 2 --out " +
                         (dir / "a" / "run").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto spec = nlohmann::json::parse(read_file(dir / "a" / "run" / "user_llm.json"));
  EXPECT_EQ(spec.at("options").at("data"), "../data");
  EXPECT_EQ(spec.at("options").at("encoder"), "../encoder");
  EXPECT_TRUE(spec.at("sources").contains("encoder/checkpoint.pt")) << spec.at("sources").dump();

  std::filesystem::rename(dir / "a", dir / "b");  // the whole tree moves
  const std::string eval = "-q evaluate --max-examples 2 --run ";
  const std::string predictions = (dir / "predictions.jsonl").string();
  r = test::run_cli(eval + (dir / "b" / "run").string() + " --predictions " + predictions);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto metrics = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  // One line per example, whose scores average to the metric.
  const auto lines = read_jsonl(predictions);
  ASSERT_EQ(lines.size(), 2u);
  double accuracy = 0;
  for (const auto& p : lines) {
    for (const char* k : {"user", "input", "history_events", "target", "prediction", "score"}) EXPECT_TRUE(p.contains(k)) << k;
    EXPECT_NE(p.at("input").get<std::string>().find("favourite genre"), std::string::npos) << p.dump();
    EXPECT_GE(p.at("history_events").get<int>(), 1);
    EXPECT_LE(p.at("history_events").get<int>(), 10);  // --history 10
    accuracy += p.at("score").at("accuracy").get<double>() / 2;
  }
  EXPECT_DOUBLE_EQ(accuracy, metrics.at("metrics").at("accuracy").get<double>());
  r = test::run_cli(eval + (dir / "b" / "run").string() + " --predictions " + predictions);
  EXPECT_EQ(r.exit_code, 1) << r.output;  // an existing file needs --overwrite

  // predict: one user's answer, the example evaluate scores for them, with the events read.
  r = test::run_cli("-q predict --run " + (dir / "b" / "run").string() + " --user " + lines[0].at("user").get<std::string>());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto p = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_EQ(p.at("task"), "favorite-genre");
  EXPECT_EQ(p.at("prediction"), lines[0].at("prediction"));
  EXPECT_EQ(p.at("target"), lines[0].at("target"));
  EXPECT_EQ(p.at("history").size(), p.at("history_events").get<size_t>());
  for (const char* k : {"item", "title", "timestamp"}) EXPECT_TRUE(p.at("history")[0].contains(k)) << k;
  r = test::run_cli("-q predict --run " + (dir / "b" / "run").string() + " --user nobody");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--user nobody: not a user"), std::string::npos) << r.output;

  std::filesystem::create_directories(dir / "c");
  std::filesystem::rename(dir / "b" / "run", dir / "c" / "run");  // the run alone moves
  r = test::run_cli(eval + (dir / "c" / "run").string());
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("user_llm.json records: --data"), std::string::npos) << r.output;
  const std::string sources = " --data " + (dir / "b" / "data").string() + " --encoder " + (dir / "b" / "encoder").string() +
                              " --llm " + (dir / "b" / "llm").string();
  r = test::run_cli(eval + (dir / "c" / "run").string() + sources);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // Another encoder at the given path is caught by the fingerprints.
  std::filesystem::copy(dir / "b" / "encoder", dir / "c" / "encoder");
  {
    std::ofstream f(dir / "c" / "encoder" / "checkpoint.pt", std::ios::app | std::ios::binary);
    f << "x";
  }
  r = test::run_cli(eval + (dir / "c" / "run").string() + " --data " + (dir / "b" / "data").string() + " --encoder " +
                    (dir / "c" / "encoder").string() + " --llm " + (dir / "b" / "llm").string());
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("has changed since the run was trained"), std::string::npos) << r.output;
}
