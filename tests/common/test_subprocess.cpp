// run_process: exit status, and the log variant that the parallel demo uses.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "common/error.h"
#include "common/subprocess.h"
#include "test_util.h"

TEST(Subprocess, ReturnsTheExitStatus) {
  EXPECT_EQ(userllm::run_process({"/bin/sh", "-c", "exit 0"}), 0);
  EXPECT_EQ(userllm::run_process({"/bin/sh", "-c", "exit 3"}), 3);
  EXPECT_EQ(userllm::run_process({"/bin/sh", "-c", "kill -9 $$"}), 128 + 9);
}

TEST(Subprocess, LogGetsStdoutAndStderr) {
  userllm::test::ScratchDir dir;
  const auto log = dir.path() / "step.log";
  {
    std::ofstream(log) << "left over from an earlier run\n";
  }
  EXPECT_EQ(userllm::run_process({"/bin/sh", "-c", "echo out; echo err >&2; exit 2"}, log), 2);
  std::ifstream in(log);
  std::stringstream s;
  s << in.rdbuf();
  EXPECT_EQ(s.str(), "out\nerr\n");
}

TEST(Subprocess, MissingProgramIsAnError) {
  EXPECT_THROW(userllm::run_process({"/nonexistent/program"}), userllm::Error);
}
