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
// fine-tuning run from its last checkpoint.
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "common/atomic_file.h"
#include "common/error.h"
#include "common/subprocess.h"

namespace userllm::cli {

namespace fs = std::filesystem;

namespace {

struct DemoArgs {
  std::string out = "runs/demo";
  int history = 200;
  bool quick = false;  // a tiny configuration that only checks the pipeline (tests)
  uint64_t seed = 1;
  int64_t eval_examples = 200;
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
  explicit Steps(const fs::path& out) : done_(out / ".done") { fs::create_directories(done_); }

  // Runs `userllm args...` unless the step already finished.
  void run(const std::string& name, std::vector<std::string> args) {
    if (fs::exists(done_ / name)) {
      spdlog::info("demo: {} already done, skipped", name);
      return;
    }
    std::string shown = "userllm";
    for (const auto& a : args) shown += " " + a;
    std::fprintf(stderr, "\n== %s\n$ %s\n", name.c_str(), shown.c_str());
    args.insert(args.begin(), self_executable().string());
    int rc = run_process(args);
    if (rc != 0) fail("demo step '" + name + "' failed (exit status " + std::to_string(rc) + "): " + shown);
    write_file_atomic(done_ / name, shown + "\n");
  }

 private:
  fs::path done_;
};

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
  fs::create_directories(out);
  Steps steps(out);
  const std::string data = (out / "data").string(), enc = (out / "encoder").string(), lm = (out / "lm").string();
  const std::string seed = std::to_string(a.seed);

  // Users, steps and sizes: the full demo fits in a few minutes on 2 cores; --quick only checks the wiring.
  const std::string users = a.quick ? "60" : "2000", items = a.quick ? "400" : "1500";
  const std::string events = a.quick ? "60" : "250";
  const std::string enc_steps = a.quick ? "40" : "3000", lm_steps = a.quick ? "30" : "600";
  const std::string ft_steps = a.quick ? "12" : "300", eval_n = a.quick ? "6" : std::to_string(a.eval_examples);
  const std::string history = std::to_string(a.quick ? std::min(a.history, 40) : a.history);

  if (!fs::exists(out / ".done" / "data")) fs::remove_all(data);
  steps.run("data", {"data", "synth", "--out", data, "--seed", seed, "--users", users, "--items", items,
                       "--events-per-user", events});

  bool resume = prepare_run_dir(enc, fs::path(enc) / "checkpoint.pt") && !fs::exists(out / ".done" / "encoder");
  std::vector<std::string> enc_args = {"encoder", "pretrain", "--data", data, "--out", enc, "--fusion", "early",
                                       "--layers", "1", "--heads", "2", "--dim", "32", "--max-len", "50", "--steps",
                                       enc_steps, "--batch-size", "32", "--lr", "3e-3", "--sampled-softmax", "256",
                                       "--field-weight", "genre=3", "--seed", seed};
  if (resume) enc_args.push_back("--resume");
  steps.run("encoder", enc_args);

  steps.run("corpus", {"data", "corpus", data, "--out", (out / "corpus.txt").string()});
  resume = prepare_run_dir(lm, fs::path(lm) / "run" / "checkpoint.pt") && !fs::exists(out / ".done" / "lm");
  std::vector<std::string> lm_args = {"lm",  "pretrain", "--corpus",  (out / "corpus.txt").string(),
                                      "--out", lm, "--seq-len", "256", "--steps", lm_steps, "--seed", seed};
  if (resume) lm_args.push_back("--resume");
  steps.run("lm", lm_args);

  std::vector<std::string> runs;
  for (const std::string task : {"favorite-genre", "next-item"})
    for (const auto& in : kIntegrations) {
      const std::string name = task + "-" + in.name, run = (out / name).string();
      resume = prepare_run_dir(run, fs::path(run) / "run" / "checkpoint.pt") && !fs::exists(out / ".done" / name);
      std::vector<std::string> ft = {"finetune",  "--data",        data,  "--encoder", enc,     "--llm",
                                     lm,          "--task",        task,  "--integration", in.integration,
                                     "--perceiver", std::to_string(in.perceiver), "--strategy", "full",
                                     "--history", history, "--steps", ft_steps, "--seed", seed, "--out", run};
      if (resume) ft.push_back("--resume");
      steps.run(name, ft);
      steps.run(name + ".eval", {"evaluate", "--run", run, "--split", "test", "--max-examples", eval_n});
      runs.push_back(run);
    }

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
  write_file_atomic(out / "summary.json", rows.dump(2) + "\n");

  const double tp_flops = rows.back().at("llm_flops_per_request").get<double>();
  std::printf("\nUser-LLM demo: synthetic data, history %s events, %s test users per task\n", history.c_str(),
              eval_n.c_str());
  std::printf("%-16s %4s %9s %9s %9s %9s %12s %8s %9s %7s\n", "integration", "K", "genre acc", "true acc",
              "item R@5", "HR@1/20", "LLM GFLOPs", "TP/x", "latency", "tokens");
  for (const auto& r : rows) {
    const double f = r.at("llm_flops_per_request").get<double>();
    std::printf("%-16s %4d %9.3f %9.3f %9.3f %9.3f %12.4f %7.1fx %7.1fms %7.0f\n",
                r.at("integration").get<std::string>().c_str(), r.at("perceiver").get<int>(),
                r.at("favorite_genre_accuracy").get<double>(), r.at("true_genre_accuracy").get<double>(),
                r.at("next_item_recall@5").get<double>(), r.at("next_item_hit_ratio@1_of_20").get<double>(), f / 1e9,
                tp_flops / f, r.at("latency_ms").get<double>(), r.at("llm_input_tokens").get<double>());
  }
  std::printf("(cost: one next-item request; K: Perceiver latents; TP/x: text prompt's LLM FLOPs over this row's)\n");
  std::printf("summary: %s\n", (out / "summary.json").string().c_str());

  std::vector<std::string> report = {"report"};
  report.insert(report.end(), runs.begin(), runs.end());
  report.insert(report.end(), {enc, lm, "--out", (out / "report").string()});
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
  c->add_flag("--quick", a->quick, "tiny sizes that only check the pipeline (minutes become seconds)");
  c->callback([a] { run_demo(*a); });
}

}  // namespace userllm::cli
