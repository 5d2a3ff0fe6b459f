#include "report/gnuplot.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <tuple>

#include "common/atomic_file.h"
#include "common/error.h"

extern char** environ;

namespace fs = std::filesystem;

namespace userllm::report {

std::string gp_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\n' || c == '\r') c = ' ';  // a literal may not span lines
    out += c;
    if (c == '\'') out += '\'';
  }
  return out + "'";
}

// Absolute: gnuplot runs inside dir_, and its log is opened after the chdir.
Gnuplot::Gnuplot(std::string program, fs::path dir) : program_(std::move(program)), dir_(fs::absolute(dir)) {
  auto [status, output] = run({"-e", "set terminal pngcairo"});
  if (status == 0) {
    terminal_ = "pngcairo";
    return;
  }
  std::tie(status, output) = run({"-e", "set terminal png"});
  if (status != 0)
    fail(program_ + ": cannot draw PNG (neither the pngcairo nor the png terminal works): " + output);
  terminal_ = "png";
}

std::pair<int, std::string> Gnuplot::run(const std::vector<std::string>& args) const {
  const fs::path log = dir_ / ".gnuplot.log";
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program_.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addchdir_np(&fa, dir_.c_str());
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = 0;
  int err = posix_spawnp(&pid, program_.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (err != 0)
    fail("cannot run " + program_ + ": " + std::strerror(err) +
         " (the figures need gnuplot: apt-get install gnuplot-nox, or give --gnuplot PATH)");
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) fail("waiting for " + program_ + ": " + std::strerror(errno));
  }
  std::string output;
  std::error_code ec;
  if (fs::exists(log, ec)) {
    output = read_file(log);
    fs::remove(log, ec);
  }
  // posix_spawnp reports a failed exec as exit status 127 on glibc.
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && output.empty())
    fail("cannot run " + program_ + " (not found; apt-get install gnuplot-nox, or give --gnuplot PATH)");
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

fs::path Gnuplot::draw(const std::string& name, const std::string& body, int width, int height) {
  const std::string png = name + ".png";
  std::string script = "# Drawn by `userllm report`; re-draw with: gnuplot " + name + ".gp\n";
  script += "set terminal " + terminal_ + " size " + std::to_string(width) + "," + std::to_string(height) +
            (terminal_ == "pngcairo" ? " font 'Sans,10'" : "") + "\n";
  script += "set output " + gp_quote(png) + "\n";
  script += "set termoption noenhanced\n";  // run and genre names are shown as written
  script += body;
  script += "unset output\n";
  write_file_atomic(dir_ / (name + ".gp"), script);
  std::error_code ec;
  fs::remove(dir_ / png, ec);
  auto [status, output] = run({name + ".gp"});
  if (status != 0) fail("gnuplot failed on " + (dir_ / (name + ".gp")).string() + " (status " + std::to_string(status) + "): " + output);
  if (!fs::exists(dir_ / png)) fail("gnuplot wrote no " + png + " from " + name + ".gp: " + output);
  png_size(dir_ / png);
  return dir_ / png;
}

std::pair<uint32_t, uint32_t> png_size(const fs::path& path) {
  static const unsigned char kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path.string() + ": cannot open");
  std::string head(24, '\0');
  in.read(head.data(), 24);
  head.resize(static_cast<size_t>(in.gcount()));
  if (head.size() < 24 || std::memcmp(head.data(), kSignature, 8) != 0 || head.compare(12, 4, "IHDR") != 0)
    fail(path.string() + ": not a PNG image (no signature and IHDR chunk in the first 24 bytes)");
  auto be32 = [&](size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(head[at + i]);
    return v;
  };
  uint32_t w = be32(16), h = be32(20);
  if (w == 0 || h == 0 || w > 100000 || h > 100000)
    fail(path.string() + ": PNG of impossible size " + std::to_string(w) + "x" + std::to_string(h));
  return {w, h};
}

}  // namespace userllm::report
