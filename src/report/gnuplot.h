// Drawing figures with gnuplot (Debian's gnuplot-nox): each figure is a
// NAME.gp script beside its NAME*.dat data in the output directory, run there
// so that a reader can re-draw it with `gnuplot NAME.gp`.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace userllm::report {

// A gnuplot single-quoted string literal ('' stands for a quote inside).
std::string gp_quote(std::string_view s);

class Gnuplot {
 public:
  // Checks that `program` runs and picks its PNG terminal (pngcairo, else png).
  // Throws userllm::Error when gnuplot is missing or cannot draw PNG.
  Gnuplot(std::string program, std::filesystem::path dir);

  // Writes DIR/NAME.gp (terminal, output NAME.png, then `body`), runs it in
  // DIR and checks that NAME.png is a PNG. Returns its path; throws
  // userllm::Error with gnuplot's messages when it fails.
  std::filesystem::path draw(const std::string& name, const std::string& body, int width = 900, int height = 520);

  const std::string& terminal() const { return terminal_; }

 private:
  // Runs the program with `args` in DIR; returns its exit status and output.
  std::pair<int, std::string> run(const std::vector<std::string>& args) const;
  std::string program_;
  std::filesystem::path dir_;
  std::string terminal_;
};

// Width and height from a PNG's IHDR chunk; throws userllm::Error when the
// file is not a PNG.
std::pair<uint32_t, uint32_t> png_size(const std::filesystem::path& path);

}  // namespace userllm::report
