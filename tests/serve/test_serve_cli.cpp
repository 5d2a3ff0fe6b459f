// `userllm serve` as a process: the listening line, SIGTERM, kill -9 during a
// burst of posts (no acknowledged event lost or duplicated), a corrupt store,
// and the npm openai client against it.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <fstream>
#include <set>
#include <thread>

#include "common/atomic_file.h"
#include "serve/catalogue.h"
#include "serve_fixture.h"

using namespace userllm;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct ServerProcess {
  int pid = 0, port = 0;
  fs::path out, err;
  // Starts the CLI in the background and waits (at most 120 s) for its listening line.
  ServerProcess(const std::string& args, const fs::path& dir, const std::string& name) {
    out = dir / (name + ".out");
    err = dir / (name + ".err");
    auto r = test::run_shell(std::string(USERLLM_CLI) + " serve " + args + " --port 0 > " + out.string() + " 2> " +
                             err.string() + " & echo $!");
    pid = std::stoi(r.output);
    for (int i = 0; i < 1200 && port == 0; ++i) {
      std::ifstream f(out);
      std::string line;
      if (std::getline(f, line) && line.find("listening on http://127.0.0.1:") != std::string::npos)
        port = std::stoi(line.substr(line.rfind(':') + 1));
      else if (kill(pid, 0) != 0)
        break;
      else
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  // Waits (at most 60 s) for the process to end; its exit status, or -1.
  int wait_exit() {
    for (int i = 0; i < 600; ++i) {
      if (kill(pid, 0) != 0) return 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return -1;
  }
  std::string log() const { return read_file(err); }
};

serve::StoreIdentity identity_of(const fs::path& run) {
  auto r = train::load_run(run);
  serve::Catalogue c(*r.dataset, r.events->field_names);
  return serve::Service::identity(c);
}

}  // namespace

TEST(ServeCli, KillNineLosesNoAcknowledgedEvent) {
  auto& runs = test::serve_runs();
  test::ScratchDir dir;
  const fs::path run = runs.runs.at("cross-attention"), store = dir / "users.sqlite";
  const std::string args = "--run " + run.string() + " --data " + runs.setup.data.string() + " --store " + store.string();
  ServerProcess first(args, dir.path(), "first");
  ASSERT_GT(first.port, 0) << first.log();
  const auto ds = data::Dataset::open(runs.setup.data);
  const std::string seeded(ds.user_key(5)), item(ds.token(0, 3));
  auto before = test::http_request(first.port, "GET", "/v1/users/" + seeded + "/embedding");
  ASSERT_EQ(before.status, 200) << before.body;

  // One event per post, each with its id; kill -9 once 40 are acknowledged, while posts go on.
  std::vector<std::string> acked;
  std::atomic<int> sent{0};
  std::atomic<bool> stop{false};
  std::thread poster([&] {
    for (int i = 0; i < 5000 && !stop; ++i) {
      const json body = {{"events", {{{"item", item}, {"timestamp", 1000 + i}, {"id", "e" + std::to_string(i)}}}}};
      sent = i + 1;
      auto r = test::http_request(first.port, "POST", "/v1/users/burst/events", body.dump(), "", 10);
      if (r.status == 200 || r.status == 201) acked.push_back("e" + std::to_string(i));
      else if (r.status == 0) break;  // the server is gone
    }
  });
  for (int i = 0; i < 600 && acked.size() < 40; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  kill(first.pid, SIGKILL);
  poster.join();
  stop = true;
  ASSERT_GE(acked.size(), 40u);

  ServerProcess second(args, dir.path(), "second");
  ASSERT_GT(second.port, 0) << second.log();
  auto info = json::parse(test::http_request(second.port, "GET", "/v1/users/burst").body);
  EXPECT_GE(info.at("events").get<size_t>(), acked.size());
  EXPECT_LE(info.at("events").get<int>(), sent.load());
  auto after = test::http_request(second.port, "GET", "/v1/users/" + seeded + "/embedding");
  EXPECT_EQ(json::parse(after.body).at("embedding"), json::parse(before.body).at("embedding"));
  // A retry of the whole burst adds exactly what was never stored.
  int added = 0;
  for (int i = 0; i < sent; ++i) {
    const json body = {{"events", {{{"item", item}, {"timestamp", 1000 + i}, {"id", "e" + std::to_string(i)}}}}};
    added += json::parse(test::http_request(second.port, "POST", "/v1/users/burst/events", body.dump()).body).at("accepted").get<int>();
  }
  EXPECT_EQ(info.at("events").get<int>() + added, sent.load());
  kill(second.pid, SIGTERM);
  EXPECT_EQ(second.wait_exit(), 0);
  EXPECT_NE(second.log().find("stopped"), std::string::npos) << second.log();

  // Straight from the file: every acknowledged id once, the history in order.
  auto s = serve::Store::open(store, identity_of(run));
  std::set<std::string> ids;
  int64_t seq = 0;
  for (const auto& e : s->events("burst")) {
    EXPECT_EQ(e.seq, seq++);
    EXPECT_TRUE(ids.insert(e.id).second) << "duplicate " << e.id;
  }
  for (const auto& id : acked) EXPECT_TRUE(ids.count(id)) << "lost " << id;
  EXPECT_EQ(int(ids.size()), sent.load());
}

// --weights int8 packs the LLM (cross-attention run: the layer hooks run inside
// the plain-loop decode step) and the server still answers a greedy completion.
TEST(ServeCli, PackedWeightsServeCompletions) {
  auto& runs = test::serve_runs();
  test::ScratchDir dir;
  const fs::path run = runs.runs.at("cross-attention");
  const auto ds = data::Dataset::open(runs.setup.data);
  const std::string args = "--run " + run.string() + " --data " + runs.setup.data.string() + " --store " +
                           (dir / "users.sqlite").string() + " --weights int8";
  ServerProcess server(args, dir.path(), "int8");
  ASSERT_GT(server.port, 0) << server.log();
  const json body = {{"prompt", "The"}, {"user", std::string(ds.user_key(2))}, {"max_tokens", 6}, {"temperature", 0},
                    {"ignore_eos", true}};
  auto r = test::http_request(server.port, "POST", "/v1/completions", body.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body).at("usage").at("completion_tokens"), 6) << r.body;
  kill(server.pid, SIGTERM);
  EXPECT_EQ(server.wait_exit(), 0);
  EXPECT_NE(server.log().find("LLM weights packed as int8"), std::string::npos) << server.log();

  auto bad = test::run_cli("serve --run " + run.string() + " --weights q4 --port 0");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("--weights: expected f32, bf16 or int8"), std::string::npos) << bad.output;
}

TEST(ServeCli, ACorruptOrForeignStoreIsRefusedAndKept) {
  auto& runs = test::serve_runs();
  test::ScratchDir dir;
  const fs::path store = dir / "broken.sqlite";
  std::string garbage(8192, '\0');
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = char((i * 7919) % 251);
  write_file_atomic(store, garbage);
  auto r = test::run_cli("serve --run " + runs.runs.at("text").string() + " --store " + store.string() + " --port 0");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(store.string()), std::string::npos) << r.output;
  EXPECT_EQ(read_file(store), garbage);

  // A store made for another dataset's catalogue.
  const fs::path other = dir / "other.sqlite";
  serve::Store::open(other, {"another-dataset:0123", {"item"}})->close();
  r = test::run_cli("serve --run " + runs.runs.at("text").string() + " --store " + other.string() + " --port 0");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("another run"), std::string::npos) << r.output;
}

TEST(ServeCli, TheOpenAiClientTalksToIt) {
  const fs::path client = fs::path(USERLLM_SOURCE_DIR) / "tests/npm/openai_client.mjs";
  if (!fs::exists(fs::path(USERLLM_SOURCE_DIR) / "tests/npm/node_modules/openai"))
    GTEST_SKIP() << "the npm openai package is not installed: run `scripts/setup --test`";
  if (test::run_shell("command -v node").exit_code != 0) GTEST_SKIP() << "node is not installed";
  auto& runs = test::serve_runs();
  test::ScratchDir dir;
  write_file_atomic(dir / "key", "test-key-123\n");
  ServerProcess server("--run " + runs.runs.at("cross-attention").string() + " --data " + runs.setup.data.string() +
                           " --store " + (dir / "users.sqlite").string() + " --api-key-file " + (dir / "key").string(),
                       dir.path(), "server");
  ASSERT_GT(server.port, 0) << server.log();
  const auto ds = data::Dataset::open(runs.setup.data);
  auto r = test::run_shell("timeout 120 node " + client.string() + " http://127.0.0.1:" + std::to_string(server.port) +
                           "/v1 test-key-123 " + std::string(ds.user_key(3)));
  kill(server.pid, SIGTERM);
  server.wait_exit();
  ASSERT_EQ(r.exit_code, 0) << r.output << server.log();
  const size_t at = r.output.find("{\"completion\"");
  ASSERT_NE(at, std::string::npos) << r.output;
  auto j = json::parse(r.output.substr(at, r.output.find('\n', at) - at));
  EXPECT_EQ(j.at("completion"), j.at("completion_stream"));
  EXPECT_EQ(j.at("chat"), j.at("chat_stream"));
  EXPECT_EQ(j.at("chat_role"), "assistant");
  EXPECT_GT(j.at("completion_usage").at("completion_tokens").get<int>(), 0);
  EXPECT_EQ(j.at("models").size(), 1u);
  EXPECT_EQ(j.at("wrong_key"), 401);
}
