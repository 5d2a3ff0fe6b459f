// Data-parallel training on c10d over loopback: 2 ranks with half the batch each step as
// 1 process with the whole batch, runs resume across world sizes, a lost rank stops the
// other with an error naming it, and torchrun launches the CLI as it is.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <future>
#include <thread>

#include "common/atomic_file.h"
#include "common/run_dir.h"
#include "encoder/checkpoint.h"
#include "llm/checkpoint.h"
#include "train/fixture.h"

using namespace userllm;
namespace fs = std::filesystem;

namespace {

// A port the kernel just handed out on 127.0.0.1, free again for the ranks to take.
int free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (s < 0 || ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    return 29500;
  ::close(s);
  return ntohs(a.sin_port);
}

// torchrun's variables for one rank of `world` (what the launcher sets, by hand).
std::string rank_env(int rank, int world, int port) {
  return "RANK=" + std::to_string(rank) + " WORLD_SIZE=" + std::to_string(world) + " LOCAL_RANK=" +
         std::to_string(rank) + " MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port) + " ";
}

// Each rank's command in its own process, side by side; `timeout` only keeps a broken
// build from hanging the suite (every rank also has --dist-timeout).
std::vector<test::CommandResult> run_ranks(int world, const std::string& args) {
  const int port = free_port();
  std::vector<std::future<test::CommandResult>> ranks;
  for (int r = 0; r < world; ++r)
    ranks.push_back(std::async(std::launch::async, [=] {
      return test::run_shell(rank_env(r, world, port) + "timeout 600 " + USERLLM_CLI + " " + args);
    }));
  std::vector<test::CommandResult> out;
  for (auto& f : ranks) out.push_back(f.get());
  return out;
}

void expect_ok(const std::vector<test::CommandResult>& ranks) {
  for (size_t r = 0; r < ranks.size(); ++r) ASSERT_EQ(ranks[r].exit_code, 0) << "rank " << r << ":\n" << ranks[r].output;
}

// step -> training loss, from metrics.jsonl.
std::map<int64_t, double> losses(const fs::path& metrics) {
  std::map<int64_t, double> out;
  std::ifstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    if (!j.contains("split")) out[j.at("step").get<int64_t>()] = j.at("loss").get<double>();
  }
  return out;
}

void expect_same_curve(const fs::path& a, const fs::path& b, size_t steps) {
  const auto x = losses(a), y = losses(b);
  ASSERT_EQ(x.size(), steps) << a;
  ASSERT_EQ(y.size(), steps) << b;
  for (const auto& [step, loss] : x) EXPECT_NEAR(loss, y.at(step), 1e-5 * std::max(1.0, std::abs(loss))) << "step " << step;
}

void expect_same_tensors(const llm::TensorMap& a, const llm::TensorMap& b) {
  ASSERT_EQ(a.size(), b.size());
  ASSERT_FALSE(a.empty());
  for (const auto& [name, t] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    auto d = (t - b.at(name)).abs().reshape({-1});
    EXPECT_LT(d.max().item<double>(), 1e-5) << name << " argmax " << d.argmax().item<int64_t>() << " of " << d.numel();
  }
}

// The encoder's weights, less the key third of each fused q/k/v bias: a bias added to
// every key shifts all of a query's logits alike, so softmax makes its gradient exactly
// zero, and what AdamW does with the rounding noise left in its place differs with the
// order of any sum (measured: 6e-5 after 20 steps, in one key-bias entry, while every other
// weight agreed within 1e-5).
llm::TensorMap encoder_weights(const fs::path& run) {
  auto enc = encoder::load_encoder(run, torch::kCPU);
  llm::TensorMap out;
  for (const auto& p : enc->named_parameters()) {
    auto t = p.value().detach().clone();
    const std::string& name = p.key();
    if (name.size() > 13 && name.compare(name.size() - 13, 13, "attn.qkv.bias") == 0) {
      const int64_t d = t.size(0) / 3;
      t = torch::cat({t.narrow(0, 0, d), t.narrow(0, 2 * d, d)});
    }
    out[name] = t;
  }
  return out;
}

// The tiny setup with an encoder without dropout: ranks draw their own masks, so only
// runs without dropout can match one process exactly.
test::TinySetup setup_without_dropout(const fs::path& dir) {
  auto s = test::make_tiny_setup(dir);
  auto eo = encoder::load_encoder_options(s.encoder);
  eo.dropout = 0;
  encoder::save_encoder_options(s.encoder, eo);
  return s;
}

std::string finetune_args(const test::TinySetup& s, const std::string& strategy, int steps = 20,
                          int eval_every = 10, int dist_timeout = 60) {
  return "-q finetune --data " + s.data.string() + " --encoder " + s.encoder.string() + " --llm " + s.llm.string() +
         " --task favorite-genre --integration cross-attention --strategy " + strategy +
         " --lora-rank 2 --history 10 --context 128 --batch-size 6 --eval-examples 5 --cross-every 2"
         " --projector linear --threads 1 --log-every 1 --steps " + std::to_string(steps) +
         " --eval-every " + std::to_string(eval_every) + " --dist-timeout " + std::to_string(dist_timeout);
}

}  // namespace

TEST(Distributed, FinetuneOnTwoRanksIsOneProcessWithTheWholeBatch) {
  test::ScratchDir dir;
  const auto s = setup_without_dropout(dir.path());
  for (const std::string strategy : {"full", "lora"}) {
    const std::string args = finetune_args(s, strategy);
    const fs::path one = dir / ("one-" + strategy), two = dir / ("two-" + strategy);
    auto r = test::run_cli(args + " --out " + one.string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    expect_ok(run_ranks(2, args + " --out " + two.string()));
    expect_same_curve(one / "metrics.jsonl", two / "metrics.jsonl", 20);
    expect_same_tensors(llm::read_safetensors(one / "model.safetensors"),
                        llm::read_safetensors(two / "model.safetensors"));
    const auto val = [](const fs::path& run) {
      return nlohmann::json::parse(read_file(run / "summary.json")).at("val_loss").get<double>();
    };
    EXPECT_NEAR(val(one), val(two), 1e-5) << strategy;
    const auto config = read_run_config(two / "run");
    EXPECT_EQ(config.at("distributed").at("world_size"), 2);
    EXPECT_EQ(config.at("distributed").at("backend"), "gloo");
    EXPECT_EQ(read_run_config(one / "run").at("distributed").at("world_size"), 1);
  }
}

TEST(Distributed, EncoderPretrainingOnTwoRanksIsOneProcessWithTheWholeBatch) {
  test::ScratchDir dir;
  const auto s = test::make_tiny_setup(dir.path());
  const std::string args = "-q encoder pretrain --data " + s.data.string() +
                           " --layers 1 --heads 2 --dim 16 --max-len 8 --dropout 0 --steps 20 --batch-size 6"
                           " --eval-every 10 --log-every 1 --threads 1 --dist-timeout 60";
  auto r = test::run_cli(args + " --out " + (dir / "one").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_ok(run_ranks(2, args + " --out " + (dir / "two").string()));
  expect_same_curve(dir / "one" / "metrics.jsonl", dir / "two" / "metrics.jsonl", 20);
  expect_same_tensors(encoder_weights(dir / "one"), encoder_weights(dir / "two"));
}

TEST(Distributed, LmPretrainingOnTwoRanksIsOneProcessWithTheWholeBatch) {
  test::ScratchDir dir;
  const auto s = test::make_tiny_setup(dir.path());
  const std::string args = "-q lm pretrain --corpus " + (dir / "corpus.txt").string() +
                           " --tokenizer-vocab 300 --layers 1 --dim 32 --heads 2 --kv-heads 1 --seq-len 32"
                           " --batch-size 6 --steps 20 --eval-every 10 --dist-timeout 60";
  auto r = test::run_cli(args + " --out " + (dir / "one").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_ok(run_ranks(2, args + " --out " + (dir / "two").string()));
  expect_same_curve(dir / "one" / "metrics.jsonl", dir / "two" / "metrics.jsonl", 3);  // steps 1, 10, 20
  expect_same_tensors(llm::read_safetensors(dir / "one" / "model.safetensors"),
                      llm::read_safetensors(dir / "two" / "model.safetensors"));
  EXPECT_EQ(read_file(dir / "one" / "tokenizer.json"), read_file(dir / "two" / "tokenizer.json"));
}

// A run stopped at step 10 resumes on the other world size and ends as the run that
// never stopped: the checkpoint does not depend on how many ranks wrote it.
TEST(Distributed, ARunResumesOnAnotherWorldSize) {
  test::ScratchDir dir;
  const auto s = setup_without_dropout(dir.path());
  const std::string args = finetune_args(s, "full") + " --checkpoint-every 5";
  const fs::path whole = dir / "whole", two_one = dir / "two-then-one", one_two = dir / "one-then-two";
  auto r = test::run_cli(args + " --out " + whole.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;

  expect_ok(run_ranks(2, args + " --stop-after 10 --out " + two_one.string()));
  EXPECT_FALSE(fs::exists(two_one / "model.safetensors"));
  r = test::run_cli("-q finetune --resume --out " + two_one.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;

  r = test::run_cli(args + " --stop-after 10 --out " + one_two.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_ok(run_ranks(2, "-q finetune --resume --dist-timeout 60 --out " + one_two.string()));

  for (const fs::path& run : {two_one, one_two}) {
    expect_same_curve(whole / "metrics.jsonl", run / "metrics.jsonl", 20);
    expect_same_tensors(llm::read_safetensors(whole / "model.safetensors"),
                        llm::read_safetensors(run / "model.safetensors"));
  }
}

// A rank killed mid-run (or stopped: a hang): the survivor stops with an error naming it,
// within --dist-timeout, and the run resumed from its last checkpoint ends as the run
// that was never interrupted.
TEST(Distributed, ALostRankStopsTheOtherWithAnErrorNamingIt) {
  test::ScratchDir dir;
  const auto s = setup_without_dropout(dir.path());
  struct Case {
    int victim, signal;
    const char* expected;
  };
  for (const Case c : {Case{1, SIGKILL, "rank 1 stopped answering"},
                       Case{0, SIGKILL, "rank 0, which holds the rendezvous store, is gone"},
                       Case{1, SIGSTOP, "rank 1 stopped answering"}}) {
    SCOPED_TRACE(std::to_string(c.victim) + " " + strsignal(c.signal));
    const fs::path run = dir / ("run" + std::to_string(c.victim) + "-" + std::to_string(c.signal));
    const fs::path pid = dir / "victim.pid";
    fs::remove(pid);
    // 400 steps: several seconds, long enough to be stopped in.
    const std::string args =
        finetune_args(s, "full", 400, 0, c.signal == SIGSTOP ? 5 : 20) + " --checkpoint-every 20 --out " + run.string();
    const int port = free_port();
    std::vector<std::future<test::CommandResult>> ranks;
    for (int r = 0; r < 2; ++r) {
      // The victim records its pid and becomes the CLI (exec keeps the pid).
      const std::string cmd = r == c.victim ? "sh -c 'echo $$ > " + pid.string() + "; exec env " +
                                                  rank_env(r, 2, port) + USERLLM_CLI + " " + args + "'"
                                            : rank_env(r, 2, port) + "timeout 600 " + USERLLM_CLI + " " + args;
      ranks.push_back(std::async(std::launch::async, [cmd] { return test::run_shell(cmd); }));
    }
    // Wait (bounded) for rank 0 to pass its first checkpoint (step 20), then stop the victim.
    const auto running = [&] {
      for (auto& f : ranks)
        if (f.wait_for(std::chrono::seconds(0)) == std::future_status::ready) return false;
      return true;
    };
    for (int i = 0; i < 12000 && running() && losses(run / "metrics.jsonl").size() < 25; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    pid_t victim_pid = 0;
    std::ifstream(pid) >> victim_pid;
    const bool hit = victim_pid > 0 && running() && ::kill(victim_pid, c.signal) == 0;
    if (!hit) {
      for (auto& f : ranks) ADD_FAILURE() << "the run ended or never started before the signal:\n" << f.get().output;
      return;
    }
    const auto survivor = ranks[size_t(1 - c.victim)].get();
    if (c.signal == SIGSTOP) ::kill(victim_pid, SIGKILL);
    ranks[size_t(c.victim)].get();
    EXPECT_NE(survivor.exit_code, 0) << survivor.output;
    EXPECT_NE(survivor.output.find(c.expected), std::string::npos) << survivor.output;
    EXPECT_NE(survivor.output.find("error: rank " + std::to_string(1 - c.victim) + " of 2: "), std::string::npos)
        << survivor.output;
    EXPECT_FALSE(fs::exists(run / "model.safetensors"));
    if (c.victim == 1 && c.signal == SIGKILL) {
      // On 2 ranks again, against 2 uninterrupted ranks: over 400 steps the rounding of a
      // sum over 2 ranks drifts from one process's by more than 1e-5, so the reference is
      // the same world.
      expect_ok(run_ranks(2, "-q finetune --resume --dist-timeout 60 --out " + run.string()));
      expect_ok(run_ranks(2, finetune_args(s, "full", 400, 0) + " --checkpoint-every 20 --out " +
                                 (dir / "whole").string()));
      expect_same_curve(dir / "whole" / "metrics.jsonl", run / "metrics.jsonl", 400);
      expect_same_tensors(llm::read_safetensors(dir / "whole" / "model.safetensors"),
                          llm::read_safetensors(run / "model.safetensors"));
    }
  }
}

// Rank 0 alone writes checkpoints; when it cannot, every rank stops, and says why.
TEST(Distributed, ACheckpointRank0CannotWriteStopsEveryRank) {
  test::ScratchDir dir;
  const auto s = setup_without_dropout(dir.path());
  const fs::path run = dir / "run";
  const std::string args = finetune_args(s, "full", 2000, 0, 60) + " --checkpoint-every 200 --out " + run.string();
  const int port = free_port();
  std::vector<std::future<test::CommandResult>> ranks;
  for (int r = 0; r < 2; ++r)
    ranks.push_back(std::async(std::launch::async, [=] {
      return test::run_shell(rank_env(r, 2, port) + "timeout 600 " + USERLLM_CLI + " " + args);
    }));
  for (int i = 0; i < 1200 && losses(run / "metrics.jsonl").size() < 3; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // A file where run/ was: the checkpoint's temporary file cannot be made (even as root).
  fs::remove_all(run / "run");
  std::ofstream(run / "run") << "not a directory\n";
  const auto r0 = ranks[0].get(), r1 = ranks[1].get();
  EXPECT_NE(r0.exit_code, 0) << r0.output;
  EXPECT_NE(r1.exit_code, 0) << r1.output;
  EXPECT_NE(r0.output.find("checkpoint.pt"), std::string::npos) << r0.output;
  EXPECT_NE(r1.output.find("error: rank 1: stopping because rank 0 failed writing the checkpoint at step 200: "),
            std::string::npos)
      << r1.output;
  EXPECT_FALSE(fs::exists(run / "model.safetensors"));
}

// torchrun --no_python starts the binary as it is; the result is one process's.
TEST(Distributed, TorchrunLaunchesTheCli) {
  const fs::path torchrun = "/usr/bin/torchrun";
  if (!fs::exists(torchrun)) GTEST_SKIP() << "/usr/bin/torchrun is absent (Debian's python3-torch provides it)";
  test::ScratchDir dir;
  const auto s = setup_without_dropout(dir.path());
  const std::string args = finetune_args(s, "lora");
  auto r = test::run_cli(args + " --out " + (dir / "one").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // --redirects 1 --tee 1: Debian 12's torchrun (1.13 on Python 3.11) fails on its default of 0
  // (docs/distributed.md).
  r = test::run_shell("timeout 600 " + torchrun.string() + " --redirects 1 --tee 1 --nproc_per_node 2 --master_port " +
                      std::to_string(free_port()) + " --no_python " + USERLLM_CLI + " " + args + " --out " +
                      (dir / "two").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_same_curve(dir / "one" / "metrics.jsonl", dir / "two" / "metrics.jsonl", 20);
  expect_same_tensors(llm::read_safetensors(dir / "one" / "model.safetensors"),
                      llm::read_safetensors(dir / "two" / "model.safetensors"));
  EXPECT_EQ(read_run_config(dir / "two" / "run").at("distributed").at("world_size"), 2);
}
