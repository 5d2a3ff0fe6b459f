// The report's figures: each writes its data (NAME.dat, one block per line
// of the plot) and has gnuplot draw NAME.png from NAME.gp in the output
// directory.
#pragma once
#include <array>
#include <filesystem>
#include <string>
#include <vector>

#include "report/gnuplot.h"
#include "report/projection.h"
#include "report/runs.h"

namespace userllm::report {

// One line of a plot: (x, y, standard error) points, sorted by x when drawn.
struct Series {
  std::string label;
  std::vector<std::array<double, 3>> points;
};

// Quality (y) against history length (x), one line per series, error bars
// when any standard error is given.
std::filesystem::path draw_quality(Gnuplot& gp, const std::filesystem::path& dir, const std::string& name,
                                   const std::string& metric, const std::vector<Series>& series);
// FLOPs per request (y, log scale) against history length.
std::filesystem::path draw_cost(Gnuplot& gp, const std::filesystem::path& dir, const std::string& name,
                                const std::vector<Series>& series);
// Training loss and validation loss (or, for an encoder, its validation
// metric on the right axis) against the step.
std::filesystem::path draw_curves(Gnuplot& gp, const std::filesystem::path& dir, const std::string& name, const Run& run);
// Users on the first two principal components, one colour per genre.
std::filesystem::path draw_projection(Gnuplot& gp, const std::filesystem::path& dir, const std::string& name,
                                      const Projection& p);

// A name usable as a file stem: letters, digits, '-', '_' and '.'.
std::string file_stem(const std::string& s);

}  // namespace userllm::report
