// The `userllm encoder` commands end to end on a small synthetic dataset:
// pretrain, eval (JSON keys), embed (file round trip, per-event rows), probe,
// and clear errors for bad input.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>

#include "common/error.h"
#include "encoder/embed.h"
#include "test_util.h"

namespace enc = userllm::encoder;
using userllm::test::run_cli;
using userllm::test::ScratchDir;

namespace {

nlohmann::json last_json_line(const std::string& out) {
  auto start = out.rfind("\n{");
  auto j = nlohmann::json::parse(out.substr(start == std::string::npos ? 0 : start + 1), nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << out;
  return j;
}

TEST(EncoderCli, PretrainEvalEmbedProbe) {
  ScratchDir dir;
  const std::string data = (dir / "synth").string(), run = (dir / "run").string();
  auto r = run_cli("-q data synth --users 60 --items 80 --events-per-user 30 --out " + data);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_cli("-q encoder pretrain --data " + data + " --out " + run +
              " --fusion late --layers 1 --heads 2 --dim 16 --field-dim 4 --max-len 64 --steps 6 --batch-size 8 "
              "--eval-every 3 --threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(std::filesystem::exists(dir / "run" / "config.json"));
  EXPECT_EQ(last_json_line(r.output)["step"], 6);

  r = run_cli("-q encoder eval --data " + data + " --run " + run + " --negatives 20");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = last_json_line(r.output);
  for (const char* k : {"recall@1", "recall@5", "recall@10", "ndcg@10"}) {
    ASSERT_TRUE(j.contains(k)) << k;
    ASSERT_TRUE(j["popularity"].contains(k)) << k;
  }
  EXPECT_EQ(j["users"], 60);

  r = run_cli("-q encoder embed --data " + data + " --run " + run + " --out " + (dir / "u.emb").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_cli("-q encoder embed --data " + data + " --run " + run + " --per-event --out " + (dir / "e.emb").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto users = enc::read_embeddings(dir / "u.emb");
  auto events = enc::read_embeddings(dir / "e.emb");
  ASSERT_EQ(users.num_users(), 60u);
  EXPECT_EQ(users.dim, 16u);
  EXPECT_FALSE(users.per_event);
  EXPECT_TRUE(events.per_event);
  EXPECT_EQ(events.keys, users.keys);
  EXPECT_GT(events.offsets.back(), 60u * 10);
  // Every history fits in max_len, so each user vector is the last per-event row.
  for (uint32_t u = 0; u < 60; ++u) {
    const float* a = users.row(u);
    const float* b = events.row(events.offsets[u + 1] - 1);
    for (uint32_t d = 0; d < users.dim; ++d) ASSERT_NEAR(a[d], b[d], 1e-5) << "user " << u;
  }

  r = run_cli("-q encoder probe --data " + data + " --run " + run);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  j = last_json_line(r.output);
  EXPECT_EQ(j["test_users"].get<int>() + j["train_users"].get<int>(), 60);
  EXPECT_GE(j["majority_rate"].get<double>(), 0.0);

  // Damaged embeddings and missing runs are clear errors.
  std::filesystem::resize_file(dir / "u.emb", 100);
  EXPECT_THROW(enc::read_embeddings(dir / "u.emb"), userllm::Error);
  r = run_cli("-q encoder eval --data " + data + " --run " + (dir / "nope").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("error:"), std::string::npos) << r.output;
  r = run_cli("-q encoder pretrain --data " + data + " --out " + run + " --steps 2");
  EXPECT_EQ(r.exit_code, 1) << r.output;  // refuses to overwrite a run
}

}  // namespace
