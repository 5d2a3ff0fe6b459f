// `userllm report RUN... --out DIR`: one HTML page comparing runs, with
// figures drawn by gnuplot (src/report/report.h).
#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "report/report.h"

namespace userllm::cli {

void add_report_commands(CLI::App& app) {
  auto o = std::make_shared<report::ReportOptions>();
  auto* c = app.add_subcommand("report", "HTML report of runs: comparison tables, quality and cost against history "
                                         "length, training curves, user-embedding projection");
  c->add_option("runs", o->runs, "fine-tuned, encoder or LM pretraining run directories")->required();
  c->add_option("--out", o->out, "output directory: index.html, the figures (PNG) and their .gp/.dat")->required();
  c->add_option("--split", o->split, "which RUN/eval-<split>.json to tabulate")
      ->check(CLI::IsMember({"test", "validation"}));
  c->add_option("--bench", o->bench, "bench/contextualization_cost --json output for the cost figure")
      ->check(CLI::ExistingFile);
  c->add_option("--data", o->data, "dataset of the encoder runs given directly (for the embedding projection)")
      ->check(CLI::ExistingDirectory);
  c->add_option("--gnuplot", o->gnuplot, "the gnuplot program");
  c->add_option("--embedding-users", o->embedding_users, "users in the projection (a seeded sample when more)");
  c->add_flag("--overwrite", o->overwrite, "replace an existing report in --out");
  c->callback([o] {
    auto r = report::write_report(*o);
    std::printf("%s\n", nlohmann::json({{"index", r.index.string()}, {"figures", r.figures.size()}, {"tables", r.tables}})
                            .dump()
                            .c_str());
  });
}

}  // namespace userllm::cli
