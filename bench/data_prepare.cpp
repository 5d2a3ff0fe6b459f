// Times `data prepare` on an ML-20M-sized synthetic MovieLens CSV (20M
// ratings), against a plain streaming line count of the same file.
//   build/bench/data_prepare [--events-per-user N] [--users N]
// The CSV is generated once and cached under <build>/bench-data.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "common/line_reader.h"
#include "common/progress.h"
#include "data/dataset.h"
#include "data/readers.h"
#include "data/synth.h"

namespace fs = std::filesystem;
using namespace userllm;

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

struct Run {
  double seconds = 0, cpu_seconds = 0;
  double peak_mb = 0;
  bool ok = false;
};

// Runs fn in a child process so its peak RSS is its own (wait4's rusage).
template <class F>
Run in_child(F fn) {
  std::fflush(stdout);
  double start = now();
  pid_t pid = fork();
  if (pid == 0) {
    try {
      fn();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      _exit(1);
    }
    _exit(0);
  }
  int status = 0;
  struct rusage ru {};
  wait4(pid, &status, 0, &ru);
  Run r;
  r.seconds = now() - start;
  r.peak_mb = double(ru.ru_maxrss) / 1024.0;
  r.cpu_seconds = double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + 1e-6 * double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
  r.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  data::SynthOptions o;
  o.users = 80000;  // x 250 events = 20M, the size of ML-20M
  o.items = 27000;
  o.events_per_user = 250;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--users")) o.users = uint32_t(std::stoul(argv[i + 1]));
    if (!std::strcmp(argv[i], "--events-per-user")) o.events_per_user = uint32_t(std::stoul(argv[i + 1]));
  }
  fs::path build = fs::canonical(fs::path(argv[0])).parent_path().parent_path();
  fs::path csv = build / "bench-data" / ("synth-ml-" + std::to_string(o.users) + "x" + std::to_string(o.events_per_user));
  Progress::set_enabled(false);

  if (!fs::exists(csv / "ratings.csv")) {
    fs::create_directories(csv.parent_path());
    std::printf("generating %s ...\n", csv.c_str());
    std::fflush(stdout);
    Run gen = in_child([&] { data::write_synthetic_csv(o, csv); });
    std::printf("synth --csv: %.1f s wall, %.1f s CPU, %.0f MB peak\n", gen.seconds, gen.cpu_seconds, gen.peak_mb);
  }
  uint64_t bytes = fs::file_size(csv / "ratings.csv");

  // Baseline: stream the lines, nothing else.
  uint64_t lines = 0;
  Run base = in_child([&] {
    LineReader in((csv / "ratings.csv").string());
    std::string_view line;
    uint64_t n = 0, sum = 0;
    while (in.next(line)) ++n, sum += line.size();
    if (sum == 0) std::fprintf(stderr, "empty\n");
    std::FILE* f = std::fopen((csv / "lines.txt").c_str(), "w");
    std::fprintf(f, "%llu\n", (unsigned long long)n);
    std::fclose(f);
  });
  if (std::FILE* f = std::fopen((csv / "lines.txt").c_str(), "r")) {
    unsigned long long n = 0;
    if (std::fscanf(f, "%llu", &n) == 1) lines = n;
    std::fclose(f);
  }
  uint64_t events = lines ? lines - 1 : 0;

  fs::path out = build / "bench-data" / "prepared";
  Run prep = in_child([&] {
    data::LogBuilder b("movielens", "genre");
    data::read_movielens(csv, b, {});
    b.finish({}, out);
  });
  if (!base.ok || !prep.ok) {
    std::fprintf(stderr, "a child run failed\n");
    return 1;
  }
  data::Dataset ds = data::Dataset::open(out);
  std::printf("data: %s (%.0f MB, %llu events, %u users, %u items)\n", (csv / "ratings.csv").c_str(), bytes / 1e6,
              (unsigned long long)ds.num_events(), ds.num_users(), ds.num_items() - 2);
  std::printf("machine: %ld cores; BLAS: not used (data layer)\n", sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("%-28s %8s %8s %14s %10s\n", "", "wall s", "CPU s", "events/s", "peak RSS");
  for (auto [name, r] : {std::pair<const char*, Run>{"baseline: stream lines", base}, {"prepare (read+sort+write)", prep}})
    std::printf("%-28s %8.2f %8.2f %14.0f %7.0f MB\n", name, r.seconds, r.cpu_seconds, events / r.seconds, r.peak_mb);
  std::printf("ratio prepare / baseline: %.2fx wall time (the difference is parsing, sorting and writing %.0f MB)\n",
              prep.seconds / base.seconds, fs::file_size(out / "events.bin") / 1e6);
  std::printf("goal: < 30 s and < 2048 MB: %s\n", prep.seconds < 30 && prep.peak_mb < 2048 ? "met" : "NOT met");
  fs::remove_all(out);
  return ds.num_events() == events ? 0 : 1;
}
