#include "report/report.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/outputs.h"
#include "common/progress.h"
#include "common/run_dir.h"
#include "report/figures.h"
#include "report/html.h"
#include "report/projection.h"
#include "report/runs.h"
#include "tasks/task.h"

namespace fs = std::filesystem;

namespace userllm::report {
namespace {

// The metric each task's quality figure shows (the paper's headline one).
std::string primary_metric(const std::string& task, const nlohmann::json& metrics) {
  const char* wanted = task == "next-item" ? "recall@10" : task == "favorite-genre" ? "accuracy" : "rouge_l_f1";
  if (metrics.contains(wanted)) return wanted;
  return metrics.begin().key();
}

std::string task_of(const Run& r) { return tasks::task_name(r.finetune->task); }

// "cross-attention", "soft-prompt + Perceiver K=16", "text".
std::string integration_label(const train::FinetuneOptions& o) {
  std::string s = bridge::integration_name(o.model.integration);
  if (o.model.perceiver > 0) s += " + Perceiver K=" + std::to_string(o.model.perceiver);
  return s;
}

// A line of a figure: the integration, plus what tells apart the runs drawn
// beside it (the strategy, and the user set when --min-history picked one).
struct SeriesLabel {
  bool strategy = false, min_history = false;
  explicit SeriesLabel(const std::vector<const Run*>& runs) {
    for (const Run* r : runs) {
      strategy |= r->finetune->model.strategy != runs.front()->finetune->model.strategy;
      min_history |= r->finetune->min_history != runs.front()->finetune->min_history;
    }
  }
  std::string operator()(const train::FinetuneOptions& o) const {
    std::string s = integration_label(o);
    if (strategy) s += ", " + std::string(bridge::strategy_name(o.model.strategy));
    if (min_history) s += o.min_history > 1 ? ", users with " + std::to_string(o.min_history) + "+ events" : ", all users";
    return s;
  }
};

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

std::string code(const std::string& s) { return "<code>" + html_escape(s) + "</code>"; }

// The runs a figure was made from, with the commands that made them.
std::string runs_caption(const std::vector<const Run*>& runs) {
  std::string out = "<ul>";
  for (const Run* r : runs)
    out += "<li>" + html_escape(r->name) + ": " + (r->command.empty() ? "command not recorded" : code(r->command)) + "</li>";
  return out + "</ul>";
}

struct Page {
  std::string body;
  std::vector<fs::path> figures;  // file names inside DIR
  std::set<std::string> stems;    // figure names taken (two runs may sanitise alike)
  std::vector<std::string> missing;  // listed at the top of the page
  int64_t tables = 0;
  int figure_number = 0;

  std::string stem(const std::string& base) {
    std::string name = file_stem(base);
    for (int i = 2; !stems.insert(name).second; ++i) name = file_stem(base) + "-" + std::to_string(i);
    return name;
  }

  void table(const std::string& title, const Table& t) {
    body += "<h3>" + title + "</h3>\n" + t.html();
    ++tables;
  }
  void figure(const fs::path& png, const std::string& caption) {
    auto [w, h] = png_size(png);
    const std::string name = png.stem().string();
    body += "<figure id=\"fig-" + html_escape(name) + "\"><img src=\"" + html_escape(png.filename().string()) +
            "\" width=\"" + std::to_string(w) + "\" height=\"" + std::to_string(h) + "\" alt=\"" + html_escape(name) +
            "\">\n<figcaption><b>Figure " + std::to_string(++figure_number) + ".</b> " + caption +
            " Data: " + code(name + ".dat") + ", re-drawn by " + code("gnuplot " + name + ".gp") + ".</figcaption></figure>\n";
    figures.push_back(png.filename());
  }
  void note(const std::string& text) { body += "<p class=\"missing\">" + text + "</p>\n"; }
};

std::string last_value(const std::vector<CurvePoint>& c, int decimals) {
  return c.empty() ? "&ndash;" : fixed(c.back().value, decimals);
}

Table runs_table(const std::vector<Run>& runs) {
  Table t("runs", {"run", "kind", "steps", "final training loss", "final validation", "command", "missing"},
          {false, false, true, true, true, false, false});
  for (const auto& r : runs) {
    int64_t steps = 0;
    for (const auto& p : r.train_loss) steps = std::max(steps, p.step);
    for (const auto& p : r.validation) steps = std::max(steps, p.step);
    std::string missing;
    for (const auto& m : r.missing) missing += (missing.empty() ? "" : "<br>") + html_escape(m);
    t.add_row({html_escape(r.name), kind_name(r.kind), steps ? std::to_string(steps) : "&ndash;",
               last_value(r.train_loss, 4),
               r.validation.empty() ? "&ndash;" : html_escape(r.validation_key) + " " + last_value(r.validation, 4),
               r.command.empty() ? "&ndash;" : code(r.command), missing});
  }
  return t;
}

// One row per evaluated run of a task: what it is, every metric, and its cost.
Table comparison_table(const std::string& task, const std::vector<const Run*>& runs) {
  std::vector<std::string> metrics;
  for (const Run* r : runs)
    for (const auto& [key, value] : (*r->eval)["metrics"].items())
      if (std::find(metrics.begin(), metrics.end(), key) == metrics.end()) metrics.push_back(key);
  std::vector<std::string> header = {"run", "integration", "Perceiver K", "strategy", "history L", "min history"};
  for (const auto& m : metrics) header.push_back(html_escape(m) + " &plusmn; s.e.");
  for (const char* h : {"FLOPs / request", "LLM FLOPs / request", "latency (ms)", "LLM input tokens", "examples"})
    header.push_back(h);
  std::vector<bool> numeric(header.size(), true);
  numeric[0] = numeric[1] = numeric[3] = false;
  Table t("comparison-" + file_stem(task), header, numeric);
  for (const Run* r : runs) {
    const auto& o = *r->finetune;
    const auto& ev = *r->eval;
    std::vector<std::string> row = {html_escape(r->name), bridge::integration_name(o.model.integration),
                                    o.model.perceiver > 0 ? std::to_string(o.model.perceiver) : "&ndash;",
                                    bridge::strategy_name(o.model.strategy), std::to_string(o.history),
                                    std::to_string(o.min_history)};
    const nlohmann::json se = ev.contains("metrics_std_error") ? ev["metrics_std_error"] : nlohmann::json::object();
    for (const auto& m : metrics) {
      double v = number_or_nan(ev["metrics"], m), e = number_or_nan(se, m);
      row.push_back(fixed(v, 4) + (std::isfinite(e) ? " &plusmn; " + fixed(e, 4) : ""));
    }
    const nlohmann::json cost = ev.contains("cost") ? ev["cost"] : nlohmann::json::object();
    row.push_back(si(number_or_nan(cost, "flops_per_request")));
    row.push_back(si(number_or_nan(cost, "llm_flops_per_request")));
    row.push_back(fixed(number_or_nan(cost, "latency_ms"), 1));
    row.push_back(fixed(number_or_nan(cost, "llm_input_tokens"), 1));
    double examples = number_or_nan(ev, "examples");
    row.push_back(std::isfinite(examples) ? std::to_string(static_cast<int64_t>(examples)) : "&ndash;");
    t.add_row(std::move(row));
  }
  return t;
}

// Adds (x, y, err) to the series called `label`, creating it in first-seen order.
void add_point(std::vector<Series>& series, const std::string& label, double x, double y, double err) {
  if (!std::isfinite(x) || !std::isfinite(y)) return;
  auto it = std::find_if(series.begin(), series.end(), [&](const Series& s) { return s.label == label; });
  if (it == series.end()) it = series.insert(series.end(), Series{label, {}});
  it->points.push_back({x, y, std::isfinite(err) ? err : 0.0});
}

// A figure against history length needs lengths: when some series span two or
// more, the single-length ones (a strategy grid at one L, say) are left to the
// tables. Returns how many were left out.
size_t keep_lines(std::vector<Series>& series) {
  auto is_line = [](const Series& s) {
    return std::any_of(s.points.begin(), s.points.end(), [&](const auto& p) { return p[0] != s.points.front()[0]; });
  };
  if (std::none_of(series.begin(), series.end(), is_line)) return 0;
  const size_t before = series.size();
  series.erase(std::remove_if(series.begin(), series.end(), [&](const Series& s) { return !is_line(s); }), series.end());
  return before - series.size();
}

std::string left_out_note(size_t n) {
  return n ? " " + std::to_string(n) + " series measured at a single history length are in the table only." : "";
}

// Cost points from bench/contextualization_cost --json: an array of rows
// {"integration", "perceiver" (K, 0 = none), "history", "flops"} (also
// accepted: "flops_per_request", as eval-<split>.json names it).
std::vector<Series> bench_cost(const fs::path& path) {
  auto j = nlohmann::json::parse(read_file(path), nullptr, false);
  if (j.is_discarded()) fail(path.string() + ": not valid JSON");
  if (!j.is_array()) fail(path.string() + ": expected a JSON array of rows (bench/contextualization_cost --json)");
  std::vector<Series> series;
  for (size_t i = 0; i < j.size(); ++i) {
    const auto& row = j[i];
    double flops = number_or_nan(row, "flops");
    if (!std::isfinite(flops)) flops = number_or_nan(row, "flops_per_request");
    if (!row.is_object() || !row.contains("integration") || !row["integration"].is_string() ||
        !std::isfinite(number_or_nan(row, "history")) || !std::isfinite(flops))
      fail(path.string() + ": row " + std::to_string(i) +
           ": expected {\"integration\": string, \"history\": number, \"flops\": number}");
    std::string label = row["integration"].get<std::string>();
    double k = number_or_nan(row, "perceiver");
    if (std::isfinite(k) && k > 0) label += " + Perceiver K=" + std::to_string(static_cast<int64_t>(k));
    add_point(series, label, number_or_nan(row, "history"), flops, 0);
  }
  return series;
}

// An encoder run to project and the dataset its users come from.
struct EncoderSource {
  fs::path encoder, data;
  std::vector<std::string> used_by;  // the fine-tuned runs that read it
};

std::vector<EncoderSource> encoder_sources(const std::vector<Run>& runs, const fs::path& data) {
  std::vector<EncoderSource> out;
  auto add = [&](const fs::path& enc, const fs::path& d, const std::string& user) {
    const fs::path e = fs::weakly_canonical(enc), dd = fs::weakly_canonical(d);
    auto it = std::find_if(out.begin(), out.end(), [&](const EncoderSource& s) { return s.encoder == e && s.data == dd; });
    if (it == out.end()) it = out.insert(out.end(), EncoderSource{e, dd, {}});
    if (!user.empty()) it->used_by.push_back(user);
  };
  for (const auto& r : runs)
    if (r.finetune && r.finetune->model.integration != bridge::IntegrationKind::kText &&
        !r.finetune->encoder.empty() && !r.finetune->data.empty())
      add(r.finetune->encoder, r.finetune->data, r.name);
  for (const auto& r : runs)
    if (r.kind == RunKind::kEncoder && !data.empty()) add(r.dir, data, "");
  return out;
}

using RunsByTask = std::map<std::string, std::vector<const Run*>>;

// One table per task and its quality-against-history figure.
void comparison_section(Page& page, Gnuplot& gp, const fs::path& dir, const RunsByTask& by_task, const std::string& split) {
  page.body += "<h2>Comparison (" + html_escape(split) + " split)</h2>\n";
  if (by_task.empty()) page.note("No fine-tuned run has an eval-" + html_escape(split) + ".json: no comparison table.");
  for (const auto& [task, group] : by_task) {
    page.table("Task " + html_escape(task), comparison_table(task, group));
    const std::string metric = primary_metric(task_of(*group.front()), (*group.front()->eval)["metrics"]);
    std::vector<Series> quality;
    const SeriesLabel label(group);
    for (const Run* r : group) {
      const auto& ev = *r->eval;
      add_point(quality, label(*r->finetune), r->finetune->history, number_or_nan(ev["metrics"], metric),
                ev.contains("metrics_std_error") ? number_or_nan(ev["metrics_std_error"], metric) : NAN);
    }
    if (quality.empty()) continue;
    const size_t single = keep_lines(quality);
    page.figure(draw_quality(gp, dir, page.stem("quality-" + task), metric, quality),
                "Task " + html_escape(task) + ": " + html_escape(metric) + " on the " + html_escape(split) +
                    " split against the history length L, one line per integration; error bars are one "
                    "standard error." + left_out_note(single) + " From each run's eval-" + html_escape(split) +
                    ".json:" + runs_caption(group));
  }
}

// FLOPs against history length, from the bench file when given, else from the runs.
void cost_section(Page& page, Gnuplot& gp, const fs::path& dir, const RunsByTask& by_task, const ReportOptions& opts) {
  page.body += "<h2>Cost against history length</h2>\n";
  std::vector<Series> cost;
  std::string source;
  if (!opts.bench.empty()) {
    cost = bench_cost(opts.bench);
    source = "From " + code(opts.bench.string()) + " (bench/contextualization_cost).";
  } else {
    std::vector<const Run*> used;
    for (const auto& [task, group] : by_task) {
      const SeriesLabel label(group);
      for (const Run* r : group) {
        const auto c = r->eval->contains("cost") ? (*r->eval)["cost"] : nlohmann::json::object();
        double L = number_or_nan(c, "history_events");
        if (!std::isfinite(L)) L = r->finetune->history;
        const double flops = number_or_nan(c, "flops_per_request");
        if (!std::isfinite(flops)) continue;
        add_point(cost, label(*r->finetune) + " (" + task + ")", L, flops, 0);
        used.push_back(r);
      }
    }
    source = "Analytic FLOPs of one request (eval/flops.h) from each run's eval-" + html_escape(opts.split) +
             ".json:" + runs_caption(used);
  }
  if (cost.empty()) {
    page.note("No cost figure: no evaluated run records its FLOPs and no --bench file was given.");
    page.missing.push_back("cost against history length (no evaluated runs with a cost, no --bench)");
    return;
  }
  const size_t single = keep_lines(cost);
  page.figure(draw_cost(gp, dir, page.stem("cost"), cost),
              "FLOPs per request against the history events a request reads (both log scales), one line per "
              "integration." + left_out_note(single) + " " + source);
}

void curves_section(Page& page, Gnuplot& gp, const fs::path& dir, const std::vector<Run>& runs, Progress& bar) {
  page.body += "<h2>Training and validation curves</h2>\n";
  for (const auto& r : runs) {
    if (!r.train_loss.empty() || !r.validation.empty()) {
      const std::string what = r.validation_key == "loss" || r.validation.empty()
                                   ? "Training and validation loss"
                                   : "Training loss and validation " + html_escape(r.validation_key) + " (right axis)";
      page.figure(draw_curves(gp, dir, page.stem("curves-" + r.name), r),
                  what + " of " + html_escape(r.name) + " (" + kind_name(r.kind) + ", metrics.jsonl)." + runs_caption({&r}));
    }
    bar.add();
  }
}

// One projection per encoder; one that cannot be drawn is reported, not fatal.
void embeddings_section(Page& page, Gnuplot& gp, const fs::path& dir, const std::vector<EncoderSource>& sources,
                        int64_t max_users, Progress& bar) {
  page.body += "<h2>User embeddings</h2>\n";
  if (sources.empty()) {
    page.note("No projection: no fine-tuned run names an encoder, and no encoder run was given with --data.");
    page.missing.push_back("user-embedding projection (no encoder run with a dataset)");
  }
  for (const auto& s : sources) {
    const std::string label = (s.encoder.filename().empty() ? s.encoder.parent_path() : s.encoder).filename().string();
    try {
      auto p = project_users(s.encoder, s.data, max_users);
      const std::string cmd = recorded_command(s.encoder);
      page.figure(draw_projection(gp, dir, page.stem("embeddings-" + label), p),
                  "User vectors of encoder run " + code(s.encoder.string()) + " over each user's train events in " +
                      code(s.data.string()) + ", " + std::to_string(p.x.size()) +
                      " users, projected on the first two principal components; colour: the favourite genre of the "
                      "same events." +
                      (cmd.empty() ? std::string() : " Encoder: " + code(cmd) + ".") +
                      (s.used_by.empty() ? std::string() : " Used by: " + html_escape(join(s.used_by)) + "."));
    } catch (const Error& e) {
      page.note("No projection for encoder run " + html_escape(s.encoder.string()) + ": " + html_escape(e.what()));
      page.missing.push_back("projection of " + s.encoder.string() + ": " + e.what());
    }
    bar.add();
  }
}

std::string header(const std::vector<Run>& runs, const std::vector<std::string>& missing, const std::string& split) {
  std::string head = "<h1>userllm report</h1>\n<p>" + std::to_string(runs.size()) + " runs, " + html_escape(split) +
                     " split. Written " + utc_now_iso8601() + " by userllm " + html_escape(version_string()) +
                     (command_line().empty() ? std::string() : ": " + code(command_line())) + "</p>\n";
  if (!missing.empty()) {
    head += "<h2>Missing</h2>\n<ul class=\"missing\">\n";
    for (const auto& m : missing) head += "<li>" + html_escape(m) + "</li>\n";
    head += "</ul>\n";
  }
  return head;
}

}  // namespace

ReportResult write_report(const ReportOptions& opts) {
  if (opts.runs.empty()) fail("report: no runs given");
  if (opts.out.empty()) fail("report: no output directory given");
  std::vector<fs::path> inputs = opts.runs;
  inputs.push_back(opts.bench);
  inputs.push_back(opts.data);
  check_output(opts.out, OutputKind::kReport, {"--out", inputs, opts.overwrite});

  std::vector<Run> runs;
  std::set<std::string> names;
  for (const auto& dir : opts.runs) {
    runs.push_back(read_run(dir, opts.split));
    std::string base = runs.back().name;
    for (int i = 2; !names.insert(runs.back().name).second; ++i) runs.back().name = base + "-" + std::to_string(i);
  }
  // Fine-tuned, evaluated runs grouped by task (their metrics differ), and by
  // dataset when they come from more than one.
  std::set<std::string> datasets;
  for (const auto& r : runs)
    if (r.eval) datasets.insert(r.finetune->data);
  RunsByTask by_task;
  for (const auto& r : runs)
    if (r.eval)
      by_task[task_of(r) + (datasets.size() > 1 ? " on " + fs::path(r.finetune->data).filename().string() : "")]
          .push_back(&r);
  for (auto& [task, group] : by_task)
    std::sort(group.begin(), group.end(), [](const Run* a, const Run* b) {
      auto key = [](const Run* r) {
        const auto& o = *r->finetune;
        return std::make_tuple(integration_label(o), o.model.strategy, o.min_history, o.history, r->name);
      };
      return key(a) < key(b);
    });

  AtomicDir out(opts.out);  // figures and page appear together, or not at all
  Gnuplot gp(opts.gnuplot, out.path());
  const auto sources = encoder_sources(runs, opts.data);
  Progress bar("report", runs.size() + sources.size() + 2, "figures");
  Page page;
  for (const auto& r : runs)
    for (const auto& m : r.missing) page.missing.push_back(r.name + ": " + m);
  page.table("Every run", runs_table(runs));
  comparison_section(page, gp, out.path(), by_task, opts.split);
  bar.add();
  cost_section(page, gp, out.path(), by_task, opts);
  bar.add();
  curves_section(page, gp, out.path(), runs, bar);
  embeddings_section(page, gp, out.path(), sources, opts.embedding_users, bar);
  bar.finish();

  const std::string body = header(runs, page.missing, opts.split) + "<h2>Runs</h2>\n" + page.body;
  write_file_atomic(out / "index.html", page_html("userllm report", body));
  out.commit();

  ReportResult result;
  result.index = opts.out / "index.html";
  for (const auto& f : page.figures) result.figures.push_back(opts.out / f);
  result.tables = page.tables;
  return result;
}

}  // namespace userllm::report
