// `userllm demo`: the main job on the built-in synthetic default. Generates
// the data, pretrains the user encoder and a small LM, fine-tunes the LLM to
// read the user through cross-attention (with and without a Perceiver), a
// soft prompt, and the history as text (TP), on the favourite-genre and
// next-item tasks; evaluates each, prints one table of quality and cost, and
// writes DIR/summary.json and the HTML report.
//
// Every step runs as its own `userllm` command, so each run directory records
// the exact command that made it. A finished step leaves a marker in
// DIR/.done/; an interrupted demo re-run skips those and resumes a
// fine-tuning run from its last checkpoint. Independent steps run side by side
// (--jobs, one libtorch thread each, output in DIR/logs/): for these small
// models one thread per process is faster than two threads in one.
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "common/atomic_file.h"
#include "common/error.h"
#include "common/outputs.h"
#include "common/subprocess.h"

namespace userllm::cli {

namespace fs = std::filesystem;

namespace {

struct DemoArgs {
  std::string out = "runs/demo";
  int history = 200;
  bool quick = false;  // a tiny configuration that only checks the pipeline (tests)
  uint64_t seed = 1;
  int64_t eval_examples = 1000;  // half the synthetic users: standard errors of ~0.015 on accuracy
  int jobs = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
};

struct Integration {
  std::string name;  // run directory suffix
  std::string integration;
  int perceiver = 0;
};

const std::vector<Integration> kIntegrations = {
    {"cross-attention", "cross-attention", 0},
    {"cross-attention-perceiver16", "cross-attention", 16},
    {"soft-prompt", "soft-prompt", 0},
    {"text", "text", 0},
};

class Steps {
 public:
  Steps(const fs::path& out, int jobs) : done_(out / ".done"), logs_(out / "logs"), jobs_(jobs) {
    fs::create_directories(done_);
    if (jobs_ > 1) fs::create_directories(logs_);
  }

  // Runs `userllm args...` unless the step already finished. With jobs > 1
  // the step may run beside others: its output goes to DIR/logs/NAME.log.
  void run(const std::string& name, std::vector<std::string> args) {
    if (fs::exists(done_ / name)) {
      spdlog::info("demo: {} already done, skipped", name);
      return;
    }
    std::string shown = "userllm";
    for (const auto& a : args) shown += " " + a;
    const fs::path log = logs_ / (name + ".log");
    say("\n== " + name + "\n$ " + shown + (jobs_ > 1 ? "\n  (output: " + log.string() + ")" : "") + "\n");
    if (jobs_ > 1) args.insert(args.begin(), {"--threads", "1"});
    args.insert(args.begin(), self_executable().string());
    const auto t0 = std::chrono::steady_clock::now();
    const int rc = jobs_ > 1 ? run_process(args, log) : run_process(args);
    if (rc != 0) {
      if (jobs_ > 1) say(tail(log, 15));
      fail("demo step '" + name + "' failed (exit status " + std::to_string(rc) + "): " + shown);
    }
    write_file_atomic(done_ / name, shown + "\n");
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (jobs_ > 1) say("== " + name + " done in " + std::to_string(static_cast<int>(secs)) + " s\n");
  }

 private:
  void say(const std::string& text) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::fputs(text.c_str(), stderr);
  }

  static std::string tail(const fs::path& file, size_t lines) {
    std::ifstream in(file);
    std::vector<std::string> all;
    for (std::string line; std::getline(in, line);) all.push_back(line);
    std::string s;
    for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) s += "  | " + all[i] + "\n";
    return s;
  }

  fs::path done_, logs_;
  int jobs_;
  std::mutex mutex_;
};

// Runs the chains, at most `jobs` at a time, each chain's steps in order.
// After a failure no new chain starts; the first error is rethrown once the
// running ones end.
void run_chains(const std::vector<std::function<void()>>& chains, int jobs) {
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex mutex;
  auto worker = [&] {
    for (size_t i; !failed && (i = next++) < chains.size();) {
      try {
        chains[i]();
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!error) error = std::current_exception();
        failed = true;
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 1; t < std::min<int>(jobs, static_cast<int>(chains.size())); ++t) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
}

// Fresh directory for a step that has not finished: --resume when it left a checkpoint.
bool prepare_run_dir(const fs::path& run, const fs::path& checkpoint) {
  if (fs::exists(checkpoint)) return true;
  fs::remove_all(run);
  return false;
}

nlohmann::json read_json(const fs::path& path) {
  try {
    return nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail(path.string() + ": not valid JSON: " + e.what());
  }
}

double metric(const nlohmann::json& eval, const std::string& key) {
  auto it = eval.at("metrics").find(key);
  return it == eval.at("metrics").end() ? -1 : it->get<double>();
}

void run_demo(const DemoArgs& a) {
  const fs::path out = a.out;
  check_output(out, OutputKind::kDemo, {"--out", {}, false, true});  // re-running resumes it
  fs::create_directories(out);
  Steps steps(out, a.jobs);
  const std::string data = (out / "data").string(), enc = (out / "encoder").string(), lm = (out / "lm").string();
  const std::string seed = std::to_string(a.seed);

  // Users, steps and sizes: the full demo fits in a few minutes on 2 cores; --quick only checks the wiring.
  const std::string users = a.quick ? "60" : "2000", items = a.quick ? "400" : "1500";
  const std::string events = a.quick ? "60" : "250";
  const std::string enc_steps = a.quick ? "40" : "3000", lm_steps = a.quick ? "30" : "400";
  const std::string ft_steps = a.quick ? "12" : "300", eval_n = a.quick ? "6" : std::to_string(a.eval_examples);
  const std::string history = std::to_string(a.quick ? std::min(a.history, 40) : a.history);
  const std::string lm_context = "256";  // the LM's positions: the text prompt's history is cut to fit

  if (!fs::exists(out / ".done" / "data")) fs::remove_all(data);
  steps.run("data", {"data", "synth", "--out", data, "--seed", seed, "--users", users, "--items", items,
                       "--events-per-user", events});

  // The encoder and the LM are independent; so are the eight fine-tuning runs.
  auto pretrain_encoder = [&] {
    bool resume = prepare_run_dir(enc, fs::path(enc) / "checkpoint.pt") && !fs::exists(out / ".done" / "encoder");
    std::vector<std::string> args = {"encoder", "pretrain", "--data", data, "--out", enc, "--fusion", "early",
                                     "--layers", "1", "--heads", "2", "--dim", "32", "--max-len", "50", "--steps",
                                     enc_steps, "--batch-size", "32", "--lr", "3e-3", "--sampled-softmax", "256",
                                     "--field-weight", "genre=3", "--seed", seed};
    if (resume) args = {"encoder", "pretrain", "--data", data, "--out", enc, "--resume"};  // its recorded options
    steps.run("encoder", args);
  };
  auto pretrain_lm = [&] {
    steps.run("corpus", {"data", "corpus", data, "--out", (out / "corpus.txt").string()});
    bool resume = prepare_run_dir(lm, fs::path(lm) / "run" / "checkpoint.pt") && !fs::exists(out / ".done" / "lm");
    std::vector<std::string> args = {"lm",  "pretrain", "--corpus",  (out / "corpus.txt").string(),
                                     "--out", lm, "--seq-len", lm_context, "--steps", lm_steps, "--seed", seed};
    if (resume) args = {"lm", "pretrain", "--corpus", (out / "corpus.txt").string(), "--out", lm, "--resume"};
    steps.run("lm", args);
  };
  run_chains({pretrain_lm, pretrain_encoder}, a.jobs);

  std::vector<std::string> runs;
  for (const std::string task : {"favorite-genre", "next-item"})
    for (const auto& in : kIntegrations) runs.push_back((out / (task + "-" + in.name)).string());
  // The longest first (kIntegrations ends with the text prompt, then the soft prompt: they read the most
  // positions), so that the lanes end together.
  std::vector<std::function<void()>> chains;
  for (auto in = kIntegrations.rbegin(); in != kIntegrations.rend(); ++in)
    for (const std::string task : {"favorite-genre", "next-item"}) {
      const std::string name = task + "-" + in->name, run = (out / name).string();
      chains.push_back([&, task, in = *in, name, run] {
        bool resume = prepare_run_dir(run, fs::path(run) / "run" / "checkpoint.pt") && !fs::exists(out / ".done" / name);
        std::vector<std::string> ft = {"finetune",  "--data",        data,  "--encoder", enc,     "--llm",
                                       lm,          "--task",        task,  "--integration", in.integration,
                                       "--perceiver", std::to_string(in.perceiver), "--strategy", "full",
                                       "--history", history, "--steps", ft_steps, "--seed", seed, "--out", run};
        if (resume) ft = {"finetune", "--out", run, "--resume"};
        steps.run(name, ft);
        steps.run(name + ".eval", {"evaluate", "--run", run, "--split", "test", "--max-examples", eval_n});
      });
    }
  run_chains(chains, a.jobs);

  // One row per integration: quality from both tasks, cost of a next-item request.
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& in : kIntegrations) {
    auto genre = read_json(out / ("favorite-genre-" + in.name) / "eval-test.json");
    auto item = read_json(out / ("next-item-" + in.name) / "eval-test.json");
    const auto& cost = item.at("cost");
    rows.push_back({{"integration", in.integration},
                    {"perceiver", in.perceiver},
                    {"favorite_genre_accuracy", metric(genre, "accuracy")},
                    {"true_genre_accuracy", metric(genre, "true_genre_accuracy")},
                    {"next_item_recall@5", metric(item, "recall@5")},
                    {"next_item_hit_ratio@1_of_20", metric(item, "hit_ratio@1_of_20")},
                    {"llm_flops_per_request", cost.at("llm_flops_per_request")},
                    {"flops_per_request", cost.at("flops_per_request")},
                    {"latency_ms", cost.at("latency_ms")},
                    {"llm_input_tokens", cost.at("llm_input_tokens")},
                    {"history", std::stoi(history)}});
  }
  // TP as trained reads what fits the LM's context; TP over the whole history is the analytic cost of
  // an LLM whose context held it (evaluate's cost.full_history).
  const auto tp_cost = read_json(out / "next-item-text" / "eval-test.json").at("cost");
  const double tp_flops = tp_cost.at("llm_flops_per_request").get<double>();
  const double tp_full_flops = tp_cost.at("full_history").at("llm_flops_per_request").get<double>();
  for (auto& r : rows) {
    const double f = r.at("llm_flops_per_request").get<double>();
    r["llm_flops_ratio_vs_text"] = tp_flops / f;
    r["llm_flops_ratio_vs_full_history_text"] = tp_full_flops / f;
  }
  write_file_atomic(out / "summary.json", rows.dump(2) + "\n");

  std::printf("\nUser-LLM demo: synthetic data, history %s events, %s test users per task\n", history.c_str(),
              eval_n.c_str());
  std::printf("%-16s %4s %9s %9s %9s %9s %11s %7s %9s %8s %7s\n", "integration", "K", "genre acc", "true acc",
              "item R@5", "HR@1/20", "LLM GFLOPs", "TP/x", "TPfull/x", "latency", "tokens");
  for (const auto& r : rows)
    std::printf("%-16s %4d %9.3f %9.3f %9.3f %9.3f %11.4f %6.1fx %8.1fx %6.1fms %7.0f\n",
                r.at("integration").get<std::string>().c_str(), r.at("perceiver").get<int>(),
                r.at("favorite_genre_accuracy").get<double>(), r.at("true_genre_accuracy").get<double>(),
                r.at("next_item_recall@5").get<double>(), r.at("next_item_hit_ratio@1_of_20").get<double>(),
                r.at("llm_flops_per_request").get<double>() / 1e9, r.at("llm_flops_ratio_vs_text").get<double>(),
                r.at("llm_flops_ratio_vs_full_history_text").get<double>(), r.at("latency_ms").get<double>(),
                r.at("llm_input_tokens").get<double>());
  std::printf("(cost: one next-item request; K: Perceiver latents; TP/x: the text prompt's LLM FLOPs over this row's,\n"
              " TP reading the %.0f events that fit its %s-token context; TPfull/x: the same for a TP reading all\n"
              " %.0f events, %.0f tokens, which this LM's context cannot hold: analytic FLOPs)\n",
              tp_cost.at("history_events").get<double>(), lm_context.c_str(),
              tp_cost.at("full_history").at("history_events").get<double>(),
              tp_cost.at("full_history").at("history_tokens").get<double>());
  std::printf("summary: %s\n", (out / "summary.json").string().c_str());

  std::vector<std::string> report = {"report"};
  report.insert(report.end(), runs.begin(), runs.end());
  report.insert(report.end(), {enc, lm, "--out", (out / "report").string(), "--overwrite"});
  fs::remove(out / ".done" / "report");  // always redrawn: cheap, and it follows the runs
  steps.run("report", report);
  std::printf("report: %s\n", (out / "report" / "index.html").string().c_str());
}

}  // namespace

void add_demo_commands(CLI::App& app) {
  auto a = std::make_shared<DemoArgs>();
  auto* c = app.add_subcommand("demo", "The main job: User-LLM against the text prompt on the synthetic default");
  c->add_option("--out", a->out, "output directory (re-running resumes an interrupted demo)")->capture_default_str();
  c->add_option("--history", a->history, "events of history per request (L)")->capture_default_str();
  c->add_option("--seed", a->seed, "seed of every step")->capture_default_str();
  c->add_option("--eval-examples", a->eval_examples, "test users evaluated per run")->capture_default_str();
  c->add_option("--jobs", a->jobs, "steps run side by side, one thread each (default: the cores)")
      ->capture_default_str();
  c->add_flag("--quick", a->quick, "tiny sizes that only check the pipeline (minutes become seconds)");
  c->callback([a] { run_demo(*a); });
}

}  // namespace userllm::cli
