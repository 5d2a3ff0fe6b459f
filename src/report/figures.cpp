#include "report/figures.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "common/atomic_file.h"

namespace fs = std::filesystem;

namespace userllm::report {
namespace {

std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// NAME.dat: one block per series ("# label" first), blocks two blank lines apart (gnuplot's `index`).
void write_series(const fs::path& dir, const std::string& name, std::vector<Series> series) {
  std::string out;
  for (auto& s : series) {
    std::sort(s.points.begin(), s.points.end());
    out += "# " + s.label + "\n# x y stderr\n";
    for (const auto& p : s.points) out += num(p[0]) + " " + num(p[1]) + " " + num(p[2]) + "\n";
    out += "\n\n";
  }
  write_file_atomic(dir / (name + ".dat"), out);
}

// dodge: each line's x is scaled by a few percent (on a log x axis) so that
// runs at the same history length stay apart.
std::string plot_series(const std::string& name, const std::vector<Series>& series, bool errors, bool dodge) {
  std::string cmd = "plot ";
  for (size_t i = 0; i < series.size(); ++i) {
    if (i) cmd += ", \\\n     ";
    const double shift = dodge ? 1.0 + 0.015 * (static_cast<double>(i) - (series.size() - 1) / 2.0) : 1.0;
    const std::string x = shift == 1.0 ? "1" : "($1*" + num(shift) + ")";
    cmd += gp_quote(name + ".dat") + " index " + std::to_string(i) + " using " + x +
           (errors ? ":2:3 with yerrorlines" : ":2 with linespoints") + " lw 2 pt 7 title " + gp_quote(series[i].label);
  }
  return cmd + "\n";
}

bool any_error(const std::vector<Series>& series) {
  for (const auto& s : series)
    for (const auto& p : s.points)
      if (p[2] > 0) return true;
  return false;
}

}  // namespace

std::string file_stem(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  return out.empty() ? "_" : out;
}

fs::path draw_quality(Gnuplot& gp, const fs::path& dir, const std::string& name, const std::string& metric,
                      const std::vector<Series>& series) {
  write_series(dir, name, series);
  std::string body = "set title " + gp_quote(metric + " against history length") + "\n";
  body += "set xlabel 'history length L (events, log scale)'\nset ylabel " + gp_quote(metric) + "\n";
  body += "set logscale x\nset grid\nset key below\nset offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05\n";
  body += plot_series(name, series, any_error(series), true);
  return gp.draw(name, body);
}

fs::path draw_cost(Gnuplot& gp, const fs::path& dir, const std::string& name, const std::vector<Series>& series) {
  write_series(dir, name, series);
  std::string body = "set title 'FLOPs per request against history length'\n";
  body += "set xlabel 'history events per request (log scale)'\nset ylabel 'FLOPs per request (log scale)'\n";
  body += "set logscale xy\nset format y '%.0e'\nset grid\nset key below\n";
  body += "set offsets graph 0.05, graph 0.05, 0, 0\n";
  body += plot_series(name, series, false, false);
  return gp.draw(name, body);
}

fs::path draw_curves(Gnuplot& gp, const fs::path& dir, const std::string& name, const Run& run) {
  std::string out = "# " + run.name + ": training loss\n# step loss\n";
  for (const auto& p : run.train_loss) out += std::to_string(p.step) + " " + num(p.value) + "\n";
  out += "\n\n# " + run.name + ": validation " + run.validation_key + "\n# step value\n";
  for (const auto& p : run.validation) out += std::to_string(p.step) + " " + num(p.value) + "\n";
  write_file_atomic(dir / (name + ".dat"), out);

  const bool same_axis = run.validation_key == "loss";
  std::string body = "set title " + gp_quote(run.name + " (" + kind_name(run.kind) + ")") + "\n";
  body += "set xlabel 'step'\nset ylabel 'loss'\nset grid\nset key top right\n";
  if (!same_axis && !run.validation.empty()) body += "set y2label " + gp_quote("validation " + run.validation_key) + "\nset y2tics\nset ytics nomirror\n";
  std::vector<std::string> plots;
  if (!run.train_loss.empty())
    plots.push_back(gp_quote(name + ".dat") + " index 0 using 1:2 with lines lw 2 title 'training loss'");
  if (!run.validation.empty())
    plots.push_back(gp_quote(name + ".dat") + " index 1 using 1:2 " + (same_axis ? "" : "axes x1y2 ") +
                    "with linespoints lw 2 pt 7 title " + gp_quote("validation " + run.validation_key));
  body += "plot ";
  for (size_t i = 0; i < plots.size(); ++i) body += (i ? ", \\\n     " : "") + plots[i];
  body += "\n";
  return gp.draw(name, body);
}

fs::path draw_projection(Gnuplot& gp, const fs::path& dir, const std::string& name, const Projection& p) {
  std::string out;
  for (size_t g = 0; g < p.group_names.size(); ++g) {
    out += "# " + p.group_names[g] + "\n# pc1 pc2\n";
    for (size_t i = 0; i < p.x.size(); ++i)
      if (p.group[i] == static_cast<int>(g)) out += num(p.x[i]) + " " + num(p.y[i]) + "\n";
    out += "\n\n";
  }
  write_file_atomic(dir / (name + ".dat"), out);
  auto pct = [](double f) { return std::to_string(static_cast<int>(std::lround(100 * f))) + "%"; };
  std::string body = "set title 'User embeddings, first two principal components'\n";
  body += "set xlabel " + gp_quote("PC1 (" + pct(p.explained[0]) + " of the variance)") + "\n";
  body += "set ylabel " + gp_quote("PC2 (" + pct(p.explained[1]) + " of the variance)") + "\n";
  body += "set grid\nset key outside right top title 'favourite genre'\n";
  body += "plot ";
  for (size_t g = 0; g < p.group_names.size(); ++g) {
    if (g) body += ", \\\n     ";
    // "other" is drawn grey so that the named genres stand out.
    const bool other = g + 1 == p.group_names.size() && (p.group_names[g] == "other" || p.group_names[g].rfind("no ", 0) == 0);
    body += gp_quote(name + ".dat") + " index " + std::to_string(g) + " using 1:2 with points pt 7 ps 0.6 " +
            (other ? "lc rgb '#b0b0b0' " : "lc " + std::to_string(g + 1) + " ") + "title " + gp_quote(p.group_names[g]);
  }
  body += "\n";
  return gp.draw(name, body, 900, 620);
}

}  // namespace userllm::report
