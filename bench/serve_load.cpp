// Load on `userllm serve` (issue 11): C concurrent clients on loopback mixing
// event posts and completions (9:1), bounded in count and time, against a
// cross-attention run with a 16-latent Perceiver and the text-prompt run of the
// same data and history, each started as its own server process. Reports
// requests/s, latency percentiles, time to first token (streamed
// completions), tokens/s, errors by kind, the server's peak RSS, and events
// acknowledged against events found in the store afterwards; then the
// User-LLM / TP completion throughput and continuous batching against one
// request at a time (--max-batch 1), both at C = 16, measured in the same run.
//
// The runs come from MovieLens latest-small at history 200 (../shared): the
// bench prepares them once under --work with short training (load does not
// depend on quality): data prepare, encoder pretrain, an LM whose context holds
// 200 events as text, and the two fine-tuning runs.
//
//   build/bench/serve_load [--work runs/serve-load] [--clients 1,16,128,1000]
//       [--requests 20] [--seconds 60] [--max-tokens 16] [--torch-threads 1]
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "../tests/serve/http_client.h"
#include "blas_info.h"
#include "common/error.h"
#include "data/dataset.h"

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using userllm::test::http_request;

namespace {

int sh(const std::string& cmd) {
  std::fprintf(stderr, "+ %s\n", cmd.c_str());
  return std::system(cmd.c_str());
}

// Each preparation step once: a finished step leaves DIR/.done-NAME.
void step(const fs::path& work, const std::string& name, const std::string& args) {
  if (fs::exists(work / (".done-" + name))) return;
  if (sh(std::string(USERLLM_CLI) + " --threads 2 " + args + " > " + (work / (name + ".log")).string() + " 2>&1") != 0)
    userllm::fail("preparing " + name + " failed: see " + (work / (name + ".log")).string());
  std::ofstream(work / (".done-" + name)) << args << "\n";
}

struct Server {
  int pid = 0, port = 0;
  static inline int torch_threads = 1;
  Server(const fs::path& run, const fs::path& data, const fs::path& store, int max_batch, const fs::path& log) {
    fs::remove(store);
    fs::remove(fs::path(store.string() + "-wal"));
    fs::remove(fs::path(store.string() + "-shm"));
    const fs::path out = log.string() + ".out";
    fs::remove(out);  // a previous server's listening line must not be read as this one's
    FILE* p = popen((std::string(USERLLM_CLI) + " serve --run " + run.string() + " --data " + data.string() + " --store " +
                     store.string() + " --port 0 --max-batch " + std::to_string(max_batch) +
                     " --max-queue 256 --threads 16 --request-timeout 120 --torch-threads " +
                     std::to_string(torch_threads) + " > " + out.string() + " 2> " + log.string() +
                     " & echo $!").c_str(), "r");
    if (!p || std::fscanf(p, "%d", &pid) != 1) userllm::fail("cannot start the server");
    pclose(p);
    for (int i = 0; i < 3000 && port == 0; ++i) {
      std::ifstream f(out);
      std::string line;
      if (std::getline(f, line) && line.find("listening on") != std::string::npos) port = std::stoi(line.substr(line.rfind(':') + 1));
      else std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!port) userllm::fail("the server did not start: see " + log.string());
  }
  double peak_rss_mb() const {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(f, line);)
      if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
    return 0;
  }
  void stop() {
    kill(pid, SIGTERM);
    for (int i = 0; i < 600 && kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size() - 1) + 0.5))];
}

struct Result {
  int clients = 0;
  double seconds = 0;
  int64_t posts = 0, completions = 0, tokens = 0, acked = 0, found = 0;
  std::map<std::string, int64_t> errors;  // by status
  std::vector<double> latency, ttft;
  double rss_mb = 0;
};

// C clients, each with its own user; a completion every 10th request (streamed: time to first token).
Result drive(Server& s, int clients, int requests, double seconds, int max_tokens, const std::string& prompt,
             const std::vector<std::string>& items, bool completions_only) {
  Result r;
  r.clients = clients;
  std::mutex mu;
  std::vector<int64_t> acked(size_t(clients), 0);
  const auto start = Clock::now(), stop_at = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      std::mt19937_64 rng(uint64_t(c) + 1);
      const std::string user = "load-" + std::to_string(c);
      int64_t ts = 1700000000;
      // The user first gets a history, so completions read one.
      for (int i = 0; i < requests && Clock::now() < stop_at; ++i) {
        const bool complete = completions_only ? true : (i % 10 == 9);
        const auto t0 = Clock::now();
        userllm::test::HttpResponse resp;
        if (!complete || i == 0) {
          json evs = json::array();
          for (int k = 0; k < (i == 0 ? 50 : 1); ++k)
            evs.push_back({{"item", items[rng() % items.size()]}, {"rating", 4.0}, {"timestamp", ts++},
                           {"id", std::to_string(c) + "-" + std::to_string(ts)}});
          resp = http_request(s.port, "POST", "/v1/users/" + user + "/events", json{{"events", evs}}.dump(), "", 120);
          if (resp.status == 200 || resp.status == 201) acked[size_t(c)] += int64_t(evs.size());
        } else {
          json body = {{"prompt", prompt}, {"user", user}, {"max_tokens", max_tokens}, {"temperature", 0},
                       {"ignore_eos", true}, {"stream", true}, {"stream_options", {{"include_usage", true}}}};
          // The client reads the stream whole; time to first token comes from the server's histogram.
          resp = http_request(s.port, "POST", "/v1/completions", body.dump(), "", 120);
        }
        const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
        std::lock_guard<std::mutex> lock(mu);
        r.latency.push_back(dt);
        if (resp.status == 200 || resp.status == 201) {
          if (complete && i != 0) {
            ++r.completions;
            const size_t u = resp.body.rfind("\"completion_tokens\":");
            if (u != std::string::npos) r.tokens += std::atoll(resp.body.c_str() + u + 20);
          } else {
            ++r.posts;
          }
        } else {
          ++r.errors[std::to_string(resp.status)];
        }
      }
    });
  for (auto& t : threads) t.join();
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (int c = 0; c < clients; ++c) {
    r.acked += acked[size_t(c)];
    auto info = json::parse(http_request(s.port, "GET", "/v1/users/load-" + std::to_string(c)).body, nullptr, false);
    if (info.is_object() && info.contains("events")) r.found += info["events"].get<int64_t>();
  }
  // Time to first token: the server's histogram (mean over this run's completions).
  const std::string m = http_request(s.port, "GET", "/metrics").body;
  auto value = [&](const std::string& name) {
    const size_t at = m.find("\n" + name + " ");
    return at == std::string::npos ? 0.0 : std::atof(m.c_str() + at + name.size() + 2);
  };
  const double n = value("userllm_time_to_first_token_seconds_count");
  if (n > 0) r.ttft.push_back(value("userllm_time_to_first_token_seconds_sum") / n);
  r.rss_mb = s.peak_rss_mb();
  return r;
}

void print(const std::string& name, const Result& r) {
  std::string errors;
  for (const auto& [k, v] : r.errors) errors += (errors.empty() ? "" : " ") + k + ":" + std::to_string(v);
  std::printf("%-22s C=%-5d req/s %8.1f  completions/s %7.2f  tok/s %7.1f  p50 %7.1f ms  p95 %7.1f ms  p99 %7.1f ms  "
              "ttft(mean) %6.1f ms  errors %-12s  peak RSS %6.0f MB  events acked %lld found %lld%s\n",
              name.c_str(), r.clients, double(r.posts + r.completions) / r.seconds, double(r.completions) / r.seconds,
              double(r.tokens) / r.seconds, 1e3 * percentile(r.latency, 0.5), 1e3 * percentile(r.latency, 0.95),
              1e3 * percentile(r.latency, 0.99), r.ttft.empty() ? 0.0 : 1e3 * r.ttft[0], errors.empty() ? "none" : errors.c_str(),
              r.rss_mb, (long long)r.acked, (long long)r.found, r.found >= r.acked ? "" : "  LOST EVENTS");
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"load on userllm serve: User-LLM against the text prompt, continuous batching against one at a time"};
  std::string work = "runs/serve-load", clients_s = "1,16,128,1000";
  int requests = 20, max_tokens = 16;
  double seconds = 60;
  app.add_option("--work", work, "where the prepared runs and stores live")->capture_default_str();
  app.add_option("--clients", clients_s, "concurrent clients, comma-separated")->capture_default_str();
  app.add_option("--requests", requests, "requests per client (9 posts : 1 completion)")->capture_default_str();
  app.add_option("--seconds", seconds, "time bound of each load level")->capture_default_str();
  app.add_option("--max-tokens", max_tokens, "tokens per completion")->capture_default_str();
  app.add_option("--torch-threads", Server::torch_threads, "the servers' model threads (the HTTP threads and the clients share the rest)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    const fs::path ml = fs::path(USERLLM_SHARED_DIR) / "data/movielens-latest-small";
    if (!fs::exists(ml)) {
      std::printf("skipped: %s is absent\n", ml.c_str());
      return 0;
    }
    const fs::path w = fs::absolute(work);
    fs::create_directories(w);
    const std::string W = w.string();
    std::printf("machine: %ld cores; runs under %s\n", sysconf(_SC_NPROCESSORS_ONLN), W.c_str());
    step(w, "data", "data prepare --format movielens --input " + ml.string() + " --out " + W + "/data");
    step(w, "encoder", "encoder pretrain --data " + W + "/data --out " + W + "/encoder --steps 200 --max-len 200 --seed 1");
    step(w, "corpus", "data corpus " + W + "/data --out " + W + "/corpus.txt");
    step(w, "lm", "lm pretrain --corpus " + W + "/corpus.txt --out " + W + "/lm --seq-len 4096 --steps 20 --batch-size 2 --seed 1");
    const std::string ft = "finetune --data " + W + "/data --llm " + W + "/lm --task favorite-genre --history 200 --steps 20 "
                           "--batch-size 4 --eval-every 0 --eval-examples 8 --seed 1 ";
    step(w, "xattn", ft + "--encoder " + W + "/encoder --integration cross-attention --perceiver 16 --out " + W + "/xattn-p16");
    step(w, "text", ft + "--integration text --out " + W + "/text");

    const auto ds = userllm::data::Dataset::open(w / "data");
    std::vector<std::string> items;
    for (uint32_t i = 2; i < ds.num_items(); ++i) items.emplace_back(ds.token(0, i));
    const std::string prompt = "Based on the user's history, their favourite genre is:";
    std::vector<int> levels;
    for (size_t at = 0; at < clients_s.size();) {
      size_t comma = clients_s.find(',', at);
      levels.push_back(std::stoi(clients_s.substr(at, comma - at)));
      at = comma == std::string::npos ? clients_s.size() : comma + 1;
    }
    std::printf("\nmixed load (9 event posts : 1 streamed completion of %d tokens), %d requests per client, at most %.0f s per level\n",
                max_tokens, requests, seconds);
    std::map<std::string, std::map<int, Result>> all;
    for (const char* run : {"xattn-p16", "text"}) {
      for (int c : levels) {
        Server s(w / run, w / "data", w / (std::string(run) + ".sqlite"), 16, w / (std::string(run) + "-serve.log"));
        if (all.empty()) std::printf("server BLAS libraries mapped: %s; model threads %d\n", userllm::bench::mapped_blas(std::to_string(s.pid)).c_str(), Server::torch_threads);
        all[run][c] = drive(s, c, requests, seconds, max_tokens, prompt, items, false);
        s.stop();
        print(std::string(run == std::string("text") ? "TP" : "XA + Perceiver 16"), all[run][c]);
      }
    }
    std::printf("\ncompletions only at C = 16 (%d each):\n", requests);
    std::map<std::string, Result> only;
    for (auto [name, run, batch] : {std::tuple<const char*, const char*, int>{"XA-p16 batch 16", "xattn-p16", 16},
                                    {"XA-p16 batch 1", "xattn-p16", 1}, {"TP batch 16", "text", 16}}) {
      Server s(w / run, w / "data", w / (std::string(run) + ".sqlite"), batch, w / (std::string(run) + "-serve.log"));
      only[name] = drive(s, 16, requests, seconds, max_tokens, prompt, items, true);
      s.stop();
      print(name, only[name]);
    }
    auto cps = [](const Result& r) { return double(r.completions) / r.seconds; };
    std::printf("\nUser-LLM (XA + Perceiver 16) / TP completions/s at C = 16: x%.2f (goal >= 10)\n",
                cps(only["XA-p16 batch 16"]) / std::max(1e-9, cps(only["TP batch 16"])));
    std::printf("continuous batching (16) / one at a time (1), XA-p16 completions/s at C = 16: x%.2f (goal >= 3)\n",
                cps(only["XA-p16 batch 16"]) / std::max(1e-9, cps(only["XA-p16 batch 1"])));
    if (all["xattn-p16"].count(128) && all["xattn-p16"].count(1000))
      std::printf("peak RSS C=1000 / C=128 (XA): x%.2f (goal: flat)\n",
                  all["xattn-p16"][1000].rss_mb / std::max(1.0, all["xattn-p16"][128].rss_mb));
    int64_t lost = 0;
    for (auto& [run, byc] : all)
      for (auto& [c, r] : byc) lost += std::max<int64_t>(0, r.acked - r.found);
    std::printf("events acknowledged but not found in the store: %lld (goal 0)\n", (long long)lost);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
