// `userllm report RUN... --out DIR`: one self-contained HTML page of a set
// of runs, with figures drawn by gnuplot (Debian's gnuplot-nox), each figure
// written beside the page as PNG and embedded in it:
//   - the comparison table: one row per fine-tuned run (integration,
//     Perceiver, strategy, task, history, every metric, FLOPs, latency,
//     LLM input tokens) from RUN/eval-<split>.json;
//   - quality against history length, one line per (integration, Perceiver);
//   - cost against history length on a log scale (from the runs, or from a
//     bench/contextualization_cost JSON file when given);
//   - training and validation loss curves of each run (RUN/metrics.jsonl:
//     fine-tuning, encoder and LM pretraining runs alike);
//   - a 2-D PCA projection of the user embeddings of the runs' encoder,
//     coloured by each user's favourite genre.
// Every table and figure names the runs and the command (run/config.json or
// config.json) that produced it.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace userllm::report {

struct ReportOptions {
  std::vector<std::filesystem::path> runs;  // fine-tuning, encoder or LM runs, in any mix
  std::filesystem::path out;                // DIR: index.html and the figures
  std::filesystem::path bench;              // optional bench/contextualization_cost --json output
  std::filesystem::path data;               // dataset of encoder runs given directly (fine-tuned runs name theirs)
  std::string split = "test";               // which RUN/eval-<split>.json to tabulate
  std::string gnuplot = "gnuplot";          // the program that draws the figures
  int64_t embedding_users = 2000;           // users in the projection (a seeded sample when more)
  bool overwrite = false;                   // replace an existing report in out
};

struct ReportResult {
  std::filesystem::path index;               // DIR/index.html
  std::vector<std::filesystem::path> figures;
  int64_t tables = 0;
};

// Writes the page atomically (figures first, the page last). Throws
// userllm::Error when a run is unreadable or gnuplot is missing or fails.
ReportResult write_report(const ReportOptions& opts);

}  // namespace userllm::report
