#include "common/run_dir.h"

#include <ctime>

#include "common/atomic_file.h"
#include "common/build_config.h"
#include "common/error.h"

namespace userllm {
namespace {
std::string g_command_line;

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_of(" \t\n'\"\\$`*?[]{}()<>|&;#~!") == std::string::npos) return s;
  std::string out = "'";
  for (char c : s) out += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}
}  // namespace

void set_command_line(int argc, char** argv) {
  g_command_line.clear();
  for (int i = 0; i < argc; ++i) {
    if (i) g_command_line += ' ';
    g_command_line += shell_quote(argv[i]);
  }
}

const std::string& command_line() { return g_command_line; }

std::string version_string() { return USERLLM_VERSION; }

std::string utc_now_iso8601() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

void write_run_config(const std::filesystem::path& run_dir, const nlohmann::json& options,
                      const nlohmann::json& extra) {
  nlohmann::json j = {{"command", g_command_line},
                      {"version", version_string()},
                      {"created", utc_now_iso8601()},
                      {"options", options}};
  for (const auto& [key, value] : extra.items()) j[key] = value;
  std::filesystem::create_directories(run_dir);
  write_file_atomic(run_dir / "config.json", j.dump(2) + "\n");
}

nlohmann::json read_run_config(const std::filesystem::path& run_dir) {
  auto path = run_dir / "config.json";
  auto j = nlohmann::json::parse(read_file(path), nullptr, false);
  if (j.is_discarded()) fail(path.string() + ": not valid JSON");
  return j;
}

}  // namespace userllm
