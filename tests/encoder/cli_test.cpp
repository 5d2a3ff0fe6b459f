// The `userllm encoder` commands end to end on a small synthetic dataset:
// pretrain, eval (JSON keys), embed (file round trip, per-event rows), probe,
// and clear errors for bad input.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <sstream>

#include "common/atomic_file.h"
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

  // numpy and safetensors users read the same vectors (checked with numpy itself).
  const std::string python = "/usr/bin/python3";
  if (std::filesystem::exists(python) && userllm::test::run_shell(python + " -c 'import numpy'").exit_code == 0) {
    double sum = 0, sum_events = 0;
    for (float v : users.vectors) sum += v;
    for (float v : events.vectors) sum_events += v;
    r = run_cli("-q encoder embed --data " + data + " --run " + run + " --format npy --out " + (dir / "u.npy").string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto np = userllm::test::run_shell(python + " -c \"import numpy as np; a = np.load('" + (dir / "u.npy").string() +
                                       "'); k = open('" + (dir / "u.npy.keys.txt").string() +
                                       "').read().split(); print(a.dtype, a.shape[0], a.shape[1], len(k), k[7], float(a.sum()), float(a[7, 3]))\"");
    ASSERT_EQ(np.exit_code, 0) << np.output;
    std::istringstream in(np.output);
    std::string dtype, key7;
    size_t rows = 0, cols = 0, keys = 0;
    double np_sum = 0, v73 = 0;
    in >> dtype >> rows >> cols >> keys >> key7 >> np_sum >> v73;
    EXPECT_EQ(dtype, "float32");
    EXPECT_EQ(rows, 60u);
    EXPECT_EQ(cols, 16u);
    EXPECT_EQ(keys, 60u);
    EXPECT_EQ(key7, users.keys[7]);
    EXPECT_NEAR(np_sum, sum, 1e-3 * std::max(1.0, std::abs(sum)));
    EXPECT_FLOAT_EQ(float(v73), users.row(7)[3]);

    r = run_cli("-q encoder embed --data " + data + " --run " + run + " --per-event --format safetensors --out " +
                (dir / "e.safetensors").string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const std::string read_st =
        "import json, struct, numpy as np\n"
        "b = open('" + (dir / "e.safetensors").string() + "', 'rb').read()\n"
        "n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + n]); d = b[8 + n:]\n"
        "def t(name, dt):\n"
        "    s, e = h[name]['data_offsets']; return np.frombuffer(d[s:e], dtype=dt).reshape(h[name]['shape'])\n"
        "a, o = t('embeddings', '<f4'), t('offsets', '<i8'); u = json.loads(h['__metadata__']['users'])\n"
        "print(a.shape[0], a.shape[1], len(o), int(o[-1]), len(u), u[7], float(a.sum()))\n";
    userllm::write_file_atomic(dir / "read_st.py", read_st);
    auto st = userllm::test::run_shell(python + " " + (dir / "read_st.py").string());
    ASSERT_EQ(st.exit_code, 0) << st.output;
    std::istringstream sin(st.output);
    size_t srows = 0, scols = 0, noffsets = 0, last = 0, nusers = 0;
    std::string skey7;
    double ssum = 0;
    sin >> srows >> scols >> noffsets >> last >> nusers >> skey7 >> ssum;
    EXPECT_EQ(srows, events.offsets.back());
    EXPECT_EQ(scols, 16u);
    EXPECT_EQ(noffsets, 61u);
    EXPECT_EQ(last, events.offsets.back());
    EXPECT_EQ(nusers, 60u);
    EXPECT_EQ(skey7, events.keys[7]);
    EXPECT_NEAR(ssum, sum_events, 1e-3 * std::max(1.0, std::abs(sum_events)));
    r = run_cli("-q encoder embed --data " + data + " --run " + run + " --per-event --format npy --out " +
                (dir / "e.npy").string());
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("--format safetensors"), std::string::npos) << r.output;
  } else {
    std::printf("numpy (/usr/bin/python3) absent: --format npy/safetensors not read back here\n");
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
