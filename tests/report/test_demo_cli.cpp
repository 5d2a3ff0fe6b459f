// `userllm demo --quick` end to end: every step runs as its own command, the
// table lands in summary.json with the documented fields, the report is
// written, and a second run resumes (skips) everything already done. Two
// jobs: independent steps run side by side, each logging to DIR/logs/.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <set>

#include "test_util.h"

namespace fs = std::filesystem;

TEST(DemoCli, QuickDemoWritesSummaryAndReport) {
  userllm::test::ScratchDir dir;
  const fs::path out = dir.path() / "demo";
  auto r = userllm::test::run_cli("demo --quick --jobs 2 --out " + out.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* step : {"encoder", "lm", "next-item-text", "favorite-genre-soft-prompt.eval"})
    EXPECT_GT(fs::file_size(out / "logs" / (std::string(step) + ".log")), 0u) << step;

  std::ifstream f(out / "summary.json");
  ASSERT_TRUE(f) << "no summary.json";
  const auto rows = nlohmann::json::parse(f);
  ASSERT_EQ(rows.size(), 4u);
  std::set<std::string> kinds;
  for (const auto& row : rows) {
    for (const char* key : {"integration", "perceiver", "favorite_genre_accuracy", "next_item_recall@5",
                            "llm_flops_per_request", "latency_ms", "llm_flops_ratio_vs_text",
                            "llm_flops_ratio_vs_full_history_text"})
      EXPECT_TRUE(row.contains(key)) << key << " missing in " << row.dump();
    for (const char* key : {"favorite_genre_accuracy", "next_item_recall@5"}) {
      EXPECT_GE(row.at(key).get<double>(), 0.0);
      EXPECT_LE(row.at(key).get<double>(), 1.0);
    }
    EXPECT_GT(row.at("llm_flops_per_request").get<double>(), 0);
    EXPECT_GT(row.at("latency_ms").get<double>(), 0);
    kinds.insert(row.at("integration").get<std::string>() + "/" + std::to_string(row.at("perceiver").get<int>()));
  }
  EXPECT_EQ(kinds, (std::set<std::string>{"cross-attention/0", "cross-attention/16", "soft-prompt/0", "text/0"}));
  // The text prompt reads its history as tokens: the LLM does more work than with a 16-latent Perceiver.
  EXPECT_GT(rows[3].at("llm_flops_per_request").get<double>(), rows[1].at("llm_flops_per_request").get<double>());
  // The text prompt against itself: 1x as run, and reading its whole history never costs less.
  EXPECT_DOUBLE_EQ(rows[3].at("llm_flops_ratio_vs_text").get<double>(), 1.0);
  EXPECT_GE(rows[3].at("llm_flops_ratio_vs_full_history_text").get<double>(), 1.0);
  EXPECT_TRUE(fs::exists(out / "report" / "index.html"));
  // Each run directory records the command that made it.
  std::ifstream cfg(out / "next-item-text" / "run" / "config.json");
  ASSERT_TRUE(cfg);
  EXPECT_NE(nlohmann::json::parse(cfg).at("command").get<std::string>().find("finetune"), std::string::npos);

  // Everything is done: a second run only re-reads the results and redraws the report.
  auto again = userllm::test::run_cli("demo --quick --out " + out.string());
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("already done"), std::string::npos);
}
