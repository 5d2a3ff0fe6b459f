#include "cli/usage.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <thread>
#include <vector>

namespace userllm::cli {
namespace {

// A closed range, or open at an end where the bound itself makes no sense (lr 0, top-p 0).
struct Range {
  const char* command;  // "" = every command with this flag
  const char* flag;
  double lo, hi;
  bool lo_open = false, hi_open = false;
  bool cpus = false;  // hi is this machine's CPU count (said in the error)
};

constexpr double kCount = 1e9;  // counts with no natural bound (steps, examples, users)
constexpr double kSize = 1 << 20;

std::vector<Range> ranges() {
  // More threads than cores only slows these kernels down; 100000 hung `data stats`.
  const double cores = std::max(1u, std::thread::hardware_concurrency());
  return {
      {"", "--threads", 0, cores, false, false, true},
      {"serve", "--threads", 1, 1024},  // HTTP workers, mostly waiting on the batcher
      {"", "--torch-threads", 0, cores, false, false, true},
      {"", "--jobs", 1, cores, false, false, true},
      {"", "--seed", 0, 18446744073709551615.0},
      {"", "--steps", 1, kCount},
      {"encoder pretrain", "--steps", 0, kCount},  // 0: from --epochs
      {"", "--epochs", 0, 1e6, true},
      {"", "--batch-size", 1, kSize},
      {"", "--lr", 0, 10, true},
      {"", "--weight-decay", 0, 10},
      {"", "--gate-lr-scale", 0, 1e6},
      {"", "--warmup", -1, kCount},
      {"", "--clip", 0, 1e9, true},
      {"", "--eval-every", 0, kCount},
      {"", "--eval-examples", 0, kCount},
      {"", "--eval-users", 0, kCount},
      {"", "--eval-sequences", 0, kCount},
      {"", "--checkpoint-every", 0, kCount},
      {"", "--log-every", 1, kCount},
      {"", "--stop-after", 0, kCount},
      {"", "--layers", 1, 1024},
      {"", "--heads", 1, 1024},
      {"", "--kv-heads", 1, 1024},
      {"", "--dim", 1, 65536},
      {"", "--item-dim", 0, 65536},
      {"", "--field-dim", 1, 65536},
      {"", "--ffn-mult", 1, 64},
      {"", "--max-len", 2, kSize},
      {"", "--dropout", 0, 1, false, true},
      {"", "--stride", 0, kSize},
      {"", "--sampled-softmax", 0, kSize},
      {"", "--negatives", 0, kCount},
      {"", "--test-fraction", 0, 1, true, true},
      {"", "--val-fraction", 0, 1, true, true},
      {"", "--history", 1, kSize},
      {"", "--min-history", 0, kSize},
      {"", "--max-train-per-user", 0, kCount},
      {"", "--context", 0, kSize},
      {"", "--answer-reserve", 0, kSize},
      {"", "--perceiver", 0, 4096},
      {"", "--cross-every", 1, 1024},
      {"", "--lora-rank", 1, 4096},
      {"", "--max-examples", 0, kCount},
      {"", "--beam", 1, 1024},
      {"", "--candidates", 2, kCount},
      {"", "--max-new-tokens", 1, kSize},
      {"", "--latency-requests", 0, 1e6},
      {"", "--temperature", 0, 100},
      {"", "--top-k", 0, kCount},
      {"", "--top-p", 0, 1, true},
      {"", "--tokenizer-vocab", 1, 1 << 24},
      {"", "--vocab-size", 1, 1 << 24},
      {"", "--min-frequency", 1, kCount},
      {"", "--seq-len", 2, kSize},
      {"", "--min-user-events", 0, kCount},
      {"", "--min-item-events", 0, kCount},
      {"", "--min-token-count", 1, kCount},
      {"", "--users", 1, 1e8},
      {"", "--items", 1, 1e8},
      {"", "--events-per-user", 1, 1e6},
      {"", "--last", 0, 1e15},
      {"", "--port", 0, 65535},
      {"", "--max-batch", 1, 1024},
      {"", "--max-queue", 1, 1e6},
      {"", "--max-users-in-memory", 1, kCount},
      {"", "--request-timeout", 0, 3600, true},
      {"", "--embedding-users", 3, 1e12},
      {"", "--dist-timeout", 1, 86400},
  };
}

std::string number(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
  if (v >= 1e19) return "2^64-1";
  std::string s = std::to_string(v);
  while (s.back() == '0') s.pop_back();
  return s;
}

std::vector<CLI::App*> commands_of(CLI::App& app) {
  return app.get_subcommands([](CLI::App*) { return true; });
}

std::string describe(const Range& r, bool integer) {
  return std::string(integer ? "an integer" : "a number") + " in " + (r.lo_open ? "(" : "[") + number(r.lo) + ", " +
         number(r.hi) + (r.hi_open ? ")" : "]");
}

CLI::Validator validator(const Range& r, bool integer) {
  const std::string expected = describe(r, integer);
  const std::string why = r.cpus ? " (this machine has " + number(r.hi) + " CPUs)" : "";
  return CLI::Validator(
      [=](std::string& s) -> std::string {
        const char* begin = s.c_str();
        char* end = nullptr;
        const long double v = std::strtold(begin, &end);
        const bool parsed = end != begin && *end == '\0' && std::isfinite(static_cast<double>(v));
        const bool whole = parsed && v == std::floor(v);
        if (!parsed || (integer && !whole)) return "'" + s + "' is not " + expected;
        if (v < r.lo || v > r.hi || (r.lo_open && v == r.lo) || (r.hi_open && v == r.hi))
          return s + " is out of range: expected " + expected + why;
        return {};
      },
      expected.substr(expected.find(" in ") + 1));
}

void add_checks(CLI::App& app, const std::string& path, const std::vector<Range>& table) {
  for (CLI::Option* opt : app.get_options()) {
    const std::string type = opt->get_type_name();
    const bool integer = type == "INT" || type == "UINT", real = type == "FLOAT";
    if (!integer && !real) continue;
    const std::string flag = flag_name(*opt);
    const Range* found = nullptr;
    for (const auto& r : table)
      if (flag == r.flag && (path == r.command || (!found && *r.command == '\0'))) found = &r;
    if (!found) throw std::logic_error("usage.cpp: no range for " + path + " " + flag);
    opt->check(validator(*found, integer));
  }
  for (CLI::App* sub : commands_of(app))
    add_checks(*sub, path.empty() ? sub->get_name() : path + " " + sub->get_name(), table);
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string command_names(CLI::App& app) {
  std::string s;
  for (CLI::App* c : commands_of(app)) s += (s.empty() ? "" : ", ") + c->get_name();
  return s;
}

// Follows the command words of argv (skipping flags and their values) to the
// first word that names no command where a command is required.
std::string unknown_command(CLI::App& app, const CLI::ParseError& e, int argc, char** argv) {
  CLI::App* at = &app;
  std::string path = "userllm";  // CLI11 names the root after argv[0]
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word == "--") break;
    if (word.size() > 1 && word[0] == '-') {
      if (word.find('=') != std::string::npos) continue;
      const CLI::Option* opt = nullptr;
      for (const CLI::Option* o : at->get_options())
        if (o->check_name(word)) opt = o;
      if (opt && opt->get_type_size() != 0) ++i;  // its value
      continue;
    }
    CLI::App* next = nullptr;
    for (CLI::App* c : commands_of(*at))
      if (c->get_name() == word) next = c;
    if (next) {
      at = next;
      path += " " + word;
      continue;
    }
    if (commands_of(*at).empty() || at->get_require_subcommand_min() == 0) return {};
    std::string best;
    size_t best_d = 3;  // suggest only near misses
    for (CLI::App* c : commands_of(*at)) {
      const size_t d = edit_distance(word, c->get_name());
      if (d < best_d || c->get_name().rfind(word, 0) == 0) best = c->get_name(), best_d = std::min(d, best_d);
    }
    return "unknown command '" + word + "' for '" + path + "' " +
           (best.empty() ? "(commands: " + command_names(*at) + ")" : "(did you mean '" + best + "'?)");
  }
  if (dynamic_cast<const CLI::RequiredError*>(&e) && !commands_of(*at).empty() && at->get_require_subcommand_min() > 0)
    return "'" + path + "' needs a command: " + command_names(*at);
  return {};
}

}  // namespace

std::string flag_name(const CLI::Option& opt) {
  return opt.get_lnames().empty() ? opt.get_name(true) : "--" + opt.get_lnames().front();
}

void add_range_checks(CLI::App& app) { add_checks(app, "", ranges()); }

std::string usage_message(CLI::App& app, const CLI::ParseError& e, int argc, char** argv) {
  std::string msg = unknown_command(app, e, argc, argv);
  if (msg.empty()) {
    msg = e.what();
    std::replace(msg.begin(), msg.end(), '\n', ' ');
    while (!msg.empty() && msg.back() == ' ') msg.pop_back();
  }
  return msg + " (see --help)";
}

}  // namespace userllm::cli
