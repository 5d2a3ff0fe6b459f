// Helpers shared by the tests: paths to ../shared (skipped with a clear message
// where it is absent), scratch directories, and running the CLI.
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace userllm::test {

// Path under ../shared beside the checkout; skips the calling test when absent.
#define USERLLM_SHARED_OR_SKIP(var, rel)                                                     \
  std::filesystem::path var = std::filesystem::path(USERLLM_SHARED_DIR) / (rel);             \
  if (!std::filesystem::exists(var))                                                        \
  GTEST_SKIP() << "../shared is absent (" << var.string()                                   \
               << " not found): this test needs the shared data beside the checkout"

// A fresh, empty directory for one test, removed when the object dies.
class ScratchDir {
 public:
  ScratchDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info ? info->test_suite_name() : "t") + "." + (info ? info->name() : "t");
    for (char& c : name)
      if (c == '/') c = '_';
    path_ = std::filesystem::temp_directory_path() / ("userllm-test-" + name + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& rel) const { return path_ / rel; }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code;
  std::string output;  // stdout and stderr together
};

// Runs a shell command line, stdout and stderr together.
inline CommandResult run_shell(const std::string& cmd) {
  CommandResult r{-1, {}};
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) r.output.append(buf, n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// Runs the built `userllm` binary with the given arguments (shell-quoted by the caller).
inline CommandResult run_cli(const std::string& args) { return run_shell(std::string(USERLLM_CLI) + " " + args); }

}  // namespace userllm::test
