#include "common/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace userllm {
namespace {
bool g_enabled = true;
}

void Progress::set_enabled(bool on) { g_enabled = on; }

std::string human_count(double n) {
  char buf[32];
  if (n >= 1e9) std::snprintf(buf, sizeof buf, "%.2fG", n / 1e9);
  else if (n >= 1e6) std::snprintf(buf, sizeof buf, "%.2fM", n / 1e6);
  else if (n >= 1e4) std::snprintf(buf, sizeof buf, "%.1fk", n / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f", n);
  return buf;
}

std::string human_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  char buf[32];
  long t = std::lround(s);
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else if (t >= 60) std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%lds", t);
  return buf;
}

Progress::Progress(std::string label, uint64_t total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
  tty_ = ::isatty(STDERR_FILENO);
}

Progress::~Progress() { finish(); }

void Progress::set(uint64_t done) {
  done_ = done;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_draw_).count();
  if (since >= (tty_ ? 0.1 : 5.0)) {
    last_draw_ = now;
    draw(false);
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  draw(true);
}

void Progress::draw(bool final) {
  if (!g_enabled) return;
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = elapsed > 0 ? done_ / elapsed : 0;
  std::string line = label_ + " ";
  if (total_ > 0) {
    const int width = 24;
    double frac = std::min(1.0, double(done_) / total_);
    int fill = int(frac * width);
    line += "[" + std::string(fill, '#') + std::string(width - fill, '.') + "] ";
    char pct[16];
    std::snprintf(pct, sizeof pct, "%3.0f%% ", frac * 100);
    line += pct;
    line += human_count(done_) + "/" + human_count(total_) + " " + unit_;
  } else {
    line += human_count(done_) + " " + unit_;
  }
  line += " | " + human_count(rate) + " " + unit_ + "/s";
  if (final) line += " | " + human_duration(elapsed);
  else if (total_ > 0 && rate > 0) line += " | ETA " + human_duration((total_ - std::min(done_, total_)) / rate);
  if (!note_.empty()) line += " | " + note_;
  if (tty_) std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), final ? "\n" : "");
  else std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

}  // namespace userllm
