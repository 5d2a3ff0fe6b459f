// Prefill and decode speed of the Llama runtime against llama.cpp and
// llama2.c's run.c on the same checkpoints, measured side by side in this run:
// the real stories260K model and the 100M random Llama of ../shared/peers
// (gen_100m.py). Every measurement is its own process (so threads and peak RSS
// are its own), repeated and interleaved, and the median is printed.
//   build/bench/lm_generate [--quick] [--threads 1,2] [--reps 3] [--peers DIR]
//                           [--llama-cpp DIR] [--llama2c DIR] [--work DIR]
// --peers DIR is what `../shared/peers/build-peers DIR` made. Without peers the
// userllm rows are still measured and the ratios are skipped with a message.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "blas_info.h"
#include "llm/checkpoint.h"
#include "llm/generate.h"
#include "llm/kernels.h"
#include "llm/threads.h"

namespace fs = std::filesystem;
using namespace userllm;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// ---- the measured child: one model, one weight format, one thread count ----

struct ChildArgs {
  std::string model, weights = "f32";
  int threads = 1;
  int64_t prompt = 128, gen = 64, batch = 1;
};

int run_child(const ChildArgs& a) {
  llm::set_threads(a.threads);
  auto model = llm::load_model(a.model);
  model->pack_weights(llm::parse_weight_format(a.weights));
  torch::NoGradGuard no_grad;
  const auto& c = model->config();
  int64_t weight_bytes = 0;
  for (const auto& p : model->parameters()) weight_bytes += int64_t(p.nbytes());
  for (const auto& m : model->modules())
    if (auto* proj = m->as<llm::ProjectionImpl>()) weight_bytes += proj->packed().bytes();
  weight_bytes += model->packed_head_bytes();
  nlohmann::json out = {{"weight_bytes", weight_bytes}};

  // Prefill: the prompt in one forward, as llama-bench's pp (a warm-up first).
  std::vector<int64_t> prompt(size_t(a.prompt));
  for (int64_t i = 0; i < a.prompt; ++i) prompt[size_t(i)] = 1 + (i * 7919) % (c.vocab_size - 1);
  if (a.prompt > 0) {
    auto ids = torch::tensor(prompt).unsqueeze(0);
    llm::KVCache cache(c, 1, a.prompt, torch::kCPU);
    model->forward(ids.narrow(1, 0, std::min<int64_t>(8, a.prompt)), &cache);
    cache.clear();
    auto t = Clock::now();
    model->forward(ids, &cache);
    out["prefill_tps"] = double(a.prompt) / seconds_since(t);
  }
  // Decode: `gen` tokens from a one-token prompt per row, as llama-bench's tg,
  // through generate() (sampling and the step bookkeeping included).
  llm::GenerateOptions g;
  g.max_new_tokens = a.gen;
  std::vector<std::vector<int64_t>> prompts(size_t(a.batch), std::vector<int64_t>{1});
  for (int64_t b = 0; b < a.batch; ++b) prompts[size_t(b)][0] = 1 + b;
  llm::generate(model, prompts, [&] { auto w = g; w.max_new_tokens = 2; return w; }());  // warm-up
  auto t = Clock::now();
  auto rows = llm::generate(model, prompts, g);
  const double secs = seconds_since(t);
  int64_t tokens = 0;
  for (const auto& r : rows) tokens += int64_t(r.size());
  out["decode_tps"] = double(tokens) / secs;
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

// ---- running children and peers ----

struct Proc {
  int status = -1;
  std::string out;
  double peak_rss_mb = 0;
};

Proc run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
  int fd[2];
  if (pipe(fd) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fd[1], 1);
    int devnull = ::open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, 2);
    close(fd[0]);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (const auto& s : argv) args.push_back(const_cast<char*>(s.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(fd[1]);
  Proc p;
  char buf[4096];
  for (ssize_t n; (n = read(fd[0], buf, sizeof buf)) > 0;) p.out.append(buf, size_t(n));
  close(fd[0]);
  struct rusage ru {};
  wait4(pid, &p.status, 0, &ru);
  p.peak_rss_mb = double(ru.ru_maxrss) / 1024.0;
  return p;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

struct Samples {
  std::vector<double> prefill, decode, rss;
  double weight_mb = 0;
  std::string error;
};

std::map<std::string, std::string> thread_env(int n) { return {{"OMP_NUM_THREADS", std::to_string(n)}}; }

void userllm_sample(Samples& s, const std::string& model, const std::string& weights, int threads, int64_t prompt,
                    int64_t gen, int64_t batch) {
  auto p = run({fs::canonical("/proc/self/exe").string(), "--child", "--model", model, "--weights", weights,
                "--threads", std::to_string(threads), "--prompt", std::to_string(prompt), "--gen", std::to_string(gen),
                "--batch", std::to_string(batch)},
               thread_env(threads));
  try {
    auto j = nlohmann::json::parse(p.out.substr(p.out.rfind('{')));
    if (j.contains("prefill_tps")) s.prefill.push_back(j["prefill_tps"]);
    s.decode.push_back(j["decode_tps"]);
    s.rss.push_back(p.peak_rss_mb);
    s.weight_mb = j["weight_bytes"].get<double>() / (1024.0 * 1024.0);  // MiB, as ru_maxrss
  } catch (const std::exception&) {
    s.error = "exit " + std::to_string(p.status) + ": " + p.out.substr(0, 200);
  }
}

// llama-bench -o jsonl: one line per test, avg_ts its tokens/s.
void llama_cpp_sample(Samples& s, const std::string& bench, const std::string& gguf, int threads, int64_t prompt,
                      int64_t gen) {
  auto p = run({bench, "-m", gguf, "-p", std::to_string(prompt), "-n", std::to_string(gen), "-t",
                std::to_string(threads), "-r", "1", "-o", "jsonl"},
               {});
  std::istringstream lines(p.out);
  bool any = false;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] != '{') continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) continue;
    (j.value("n_prompt", 0) > 0 ? s.prefill : s.decode).push_back(j.value("avg_ts", 0.0));
    any = true;
  }
  if (any) s.rss.push_back(p.peak_rss_mb);
  else s.error = "llama-bench: exit " + std::to_string(p.status);
}

// run.c prints "achieved tok/s: X" on stderr; the child's stderr is discarded, so 2>&1 through sh.
void run_c_sample(Samples& s, const std::string& run_fast, const std::string& model, const std::string& tokenizer,
                  int threads, int64_t gen) {
  auto p = run({"/bin/sh", "-c",
                "\"$0\" \"$1\" -z \"$2\" -t 0 -n " + std::to_string(gen + 5) + " -i 'Once upon a time' 2>&1",
                run_fast, model, tokenizer},
               thread_env(threads));
  auto at = p.out.find("achieved tok/s:");
  if (at == std::string::npos) {
    s.error = "run.c: exit " + std::to_string(p.status);
    return;
  }
  s.decode.push_back(std::stod(p.out.substr(at + 15)));
  s.rss.push_back(p.peak_rss_mb);
}

std::vector<int> parse_threads(const std::string& s) {
  std::vector<int> v;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, ',');) v.push_back(std::stoi(part));
  return v;
}

std::string find_binary(const std::string& dir, const std::string& name) {
  for (const char* sub : {"", "/build/bin", "/bin", "/llama.cpp/build/bin", "/llama2.c"}) {
    fs::path p = dir + sub + "/" + name;
    if (!dir.empty() && fs::exists(p)) return p.string();
  }
  return "";
}

struct Peers {
  std::string bench, convert, quantize, run_fast, llama2c_dir;
};

// The gguf files llama.cpp reads, converted from the same llama2.c checkpoint.
std::map<std::string, std::string> convert(const Peers& peers, const std::string& bin, const std::string& tokenizer,
                                           const fs::path& work, const std::string& tag) {
  std::map<std::string, std::string> out;
  if (peers.convert.empty()) return out;
  const auto f32 = (work / (tag + "-f32.gguf")).string();
  if (!fs::exists(f32))
    run({peers.convert, "--copy-vocab-from-model", tokenizer, "--llama2c-model", bin, "--llama2c-output-model", f32},
        {});
  if (!fs::exists(f32)) return out;
  out["f32"] = f32;
  for (const char* q : {"F16", "Q8_0"}) {
    auto path = (work / (tag + "-" + q + ".gguf")).string();
    if (!fs::exists(path) && !peers.quantize.empty()) run({peers.quantize, f32, path, q}, {});
    if (fs::exists(path)) out[q] = path;
  }
  return out;
}

void bench_model(const std::string& title, const std::string& bin, const std::string& tokenizer, const Peers& peers,
                 const fs::path& work, const std::string& tag, const std::vector<int>& threads, int reps,
                 int64_t prompt, int64_t gen) {
  std::printf("\n== %s (%s), pp%lld / tg%lld, median of %d interleaved runs\n", title.c_str(), bin.c_str(),
              (long long)prompt, (long long)gen, reps);
  auto gguf = convert(peers, bin, tokenizer, work, tag);
  if (peers.bench.empty()) std::printf("(llama.cpp absent: pass --peers or --llama-cpp; its rows are skipped)\n");
  if (peers.run_fast.empty()) std::printf("(llama2.c absent: pass --peers or --llama2c; its rows are skipped)\n");
  const std::vector<std::string> ours = {"f32", "bf16", "int8"};
  for (int n : threads) {
    std::map<std::string, Samples> s;
    for (int r = 0; r < reps; ++r) {
      for (const auto& w : ours) userllm_sample(s["userllm " + w], bin, w, n, prompt, gen, 1);
      if (!peers.bench.empty())
        for (const auto& [q, path] : gguf) llama_cpp_sample(s["llama.cpp " + q], peers.bench, path, n, prompt, gen);
      if (!peers.run_fast.empty()) run_c_sample(s["run.c f32"], peers.run_fast, bin, tokenizer, n, gen);
    }
    std::printf("\n%d thread%s                 prefill tok/s   decode tok/s  peak RSS MiB  weights MiB\n", n,
                n > 1 ? "s" : " ");
    for (const auto& [name, x] : s) {
      if (!x.error.empty() && x.decode.empty()) {
        std::printf("%-22s  failed: %s\n", name.c_str(), x.error.c_str());
        continue;
      }
      std::printf("%-22s %14.1f %14.1f %13.0f", name.c_str(), median(x.prefill), median(x.decode), median(x.rss));
      if (x.weight_mb > 0) std::printf(" %12.0f", x.weight_mb);
      std::printf("\n");
    }
    auto ratio = [&](const char* what, const std::string& a, const std::string& b, bool prefill, double goal) {
      if (!s.count(a) || !s.count(b) || s[b].decode.empty()) {
        std::printf("  %-44s skipped (%s not measured)\n", what, b.c_str());
        return;
      }
      const double x = prefill ? median(s[a].prefill) / median(s[b].prefill) : median(s[a].decode) / median(s[b].decode);
      std::printf("  %-44s x%.2f (goal >= %.1f: %s)\n", what, x, goal, x >= goal ? "met" : "not met");
    };
    ratio("decode, userllm f32 / llama.cpp f32", "userllm f32", "llama.cpp f32", false, 0.9);
    ratio("decode, userllm int8 / llama.cpp Q8_0", "userllm int8", "llama.cpp Q8_0", false, 0.8);
    ratio("decode, userllm bf16 / llama.cpp F16", "userllm bf16", "llama.cpp F16", false, 0.8);
    ratio("decode, userllm f32 / run.c f32", "userllm f32", "run.c f32", false, 0.9);
    ratio("prefill, userllm f32 / llama.cpp f32", "userllm f32", "llama.cpp f32", true, 0.8);
    const auto& f = s["userllm f32"];
    if (!f.rss.empty() && f.weight_mb > 0)
      std::printf("  %-44s x%.2f (goal <= 1.2)\n", "peak RSS / weight bytes, userllm f32", median(f.rss) / f.weight_mb);
    const auto& q = s["userllm int8"];
    if (!q.rss.empty() && q.weight_mb > 0)
      std::printf("  %-44s x%.2f (goal <= 1.2)\n", "peak RSS / weight bytes, userllm int8", median(q.rss) / q.weight_mb);
  }
}

void bench_batches(const std::string& bin, int threads, int64_t gen, int reps) {
  std::printf("\n== batched decode, %s, %d threads: tokens/s over all rows (serve's continuous batching)\n",
              bin.c_str(), threads);
  std::printf("rows      f32 tok/s    int8 tok/s\n");
  for (int64_t b : {1, 4, 16, 64}) {
    Samples f, q;
    for (int r = 0; r < reps; ++r) {
      userllm_sample(f, bin, "f32", threads, 0, gen, b);
      userllm_sample(q, bin, "int8", threads, 0, gen, b);
    }
    std::printf("%4lld %14.1f %13.1f\n", (long long)b, median(f.decode), median(q.decode));
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> opt;
  ChildArgs child;
  bool is_child = false, quick = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--child") is_child = true;
    else if (a == "--quick") quick = true;
    else if (i + 1 < argc) opt[a] = argv[++i];
    else {
      std::fprintf(stderr, "lm_generate: %s needs a value\n", a.c_str());
      return 2;
    }
  }
  if (is_child) {
    child.model = opt["--model"];
    child.weights = opt["--weights"];
    child.threads = std::stoi(opt["--threads"]);
    child.prompt = std::stoll(opt["--prompt"]);
    child.gen = std::stoll(opt["--gen"]);
    child.batch = std::stoll(opt["--batch"]);
    try {
      return run_child(child);
    } catch (const std::exception& e) {
      std::printf("error: %s\n", e.what());
      return 1;
    }
  }
  bench::print_blas();
  std::printf("decode kernels: %s\n", llm::kernels::name(llm::kernels::best_isa()));
  const auto threads = parse_threads(opt.count("--threads") ? opt["--threads"] : "1,2");
  const int reps = opt.count("--reps") ? std::stoi(opt["--reps"]) : (quick ? 1 : 3);
  const fs::path work = opt.count("--work") ? opt["--work"] : "runs/lm-generate";
  fs::create_directories(work);
  const std::string shared = USERLLM_SHARED_DIR;
  Peers peers;
  const std::string pdir = opt.count("--peers") ? opt["--peers"] : "";
  const std::string cpp_dir = opt.count("--llama-cpp") ? opt["--llama-cpp"] : pdir;
  const std::string c_dir = opt.count("--llama2c") ? opt["--llama2c"] : pdir;
  peers.bench = find_binary(cpp_dir, "llama-bench");
  peers.convert = find_binary(cpp_dir, "llama-convert-llama2c-to-ggml");
  peers.quantize = find_binary(cpp_dir, "llama-quantize");
  peers.run_fast = find_binary(c_dir, "run_fast");
  const std::string llama_tok = find_binary(c_dir, "tokenizer.bin");

  const std::string stories = shared + "/models/stories260K";
  if (fs::exists(stories + "/stories260K.bin"))
    bench_model("stories260K", stories + "/stories260K.bin", stories + "/tok512.bin", peers, work, "stories260K",
                threads, reps, 128, quick ? 64 : 200);
  else
    std::printf("\n(stories260K absent: %s)\n", stories.c_str());

  const fs::path m100 = work / "m100.bin";
  if (!fs::exists(m100)) {
    std::printf("\nwriting the 100M checkpoint: /usr/bin/python3 %s/peers/gen_100m.py %s\n", shared.c_str(),
                m100.c_str());
    std::fflush(stdout);
    run({"/usr/bin/python3", shared + "/peers/gen_100m.py", (m100.string() + ".part")}, {});
    if (fs::exists(m100.string() + ".part")) fs::rename(m100.string() + ".part", m100);
  }
  if (!fs::exists(m100)) {
    std::printf("(the 100M checkpoint could not be written: gen_100m.py needs /usr/bin/python3 with numpy, "
                "from scripts/setup --test)\n");
    return 0;
  }
  if (llama_tok.empty()) std::printf("(llama2.c's tokenizer.bin absent: the 100M model's llama.cpp rows need it)\n");
  Peers p100 = peers;
  if (llama_tok.empty()) p100.convert.clear(), p100.run_fast.clear();
  bench_model("100M random Llama (gen_100m.py)", m100.string(), llama_tok, p100, work, "m100", threads, reps, 128,
              quick ? 16 : 64);
  bench_batches(m100.string(), threads.back(), quick ? 8 : 16, quick ? 1 : reps);
  return 0;
}
