// A progress bar on stderr with rate and ETA. Redraws at most ~10 times a
// second; when stderr is not a terminal it prints a plain line every few seconds.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace userllm {

class Progress {
 public:
  // total = 0 means unknown (no ETA, no bar); unit names what is counted ("events", "steps").
  Progress(std::string label, uint64_t total, std::string unit);
  ~Progress();  // finishes the line

  void set(uint64_t done);
  void add(uint64_t n = 1) { set(done_ + n); }
  // Extra text shown after the counts, e.g. "loss 3.21".
  void set_note(std::string note) { note_ = std::move(note); }
  void finish();

  static void set_enabled(bool on);  // --quiet turns every bar off

 private:
  void draw(bool final);
  std::string label_, unit_, note_;
  uint64_t total_, done_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool tty_, finished_ = false;
};

// "1.23M", "456k": short counts for humans.
std::string human_count(double n);
// "1h02m", "3m05s", "12s".
std::string human_duration(double seconds);

}  // namespace userllm
