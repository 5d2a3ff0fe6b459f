// The command line's conventions, through the built binary: one `error:` line
// and status 2 for usage errors, every numeric flag range-checked, outputs that
// never replace a user's files unasked, resumed runs that keep their options,
// and docs/cli.md listing exactly the flags `--help` shows.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "common/atomic_file.h"
#include "test_util.h"

namespace fs = std::filesystem;
using userllm::read_file;
using userllm::test::CommandResult;
using userllm::test::run_cli;
using userllm::test::ScratchDir;

namespace {

size_t lines(const std::string& s) { return std::count(s.begin(), s.end(), '\n'); }

// One line, starting with "error:", holding `what`.
void expect_one_error_line(const CommandResult& r, int status, const std::string& what, const std::string& cmd) {
  EXPECT_EQ(r.exit_code, status) << cmd << "\n" << r.output;
  EXPECT_EQ(r.output.rfind("error: ", 0), 0u) << cmd << "\n" << r.output;
  EXPECT_EQ(lines(r.output), 1u) << cmd << "\n" << r.output;
  EXPECT_NE(r.output.find(what), std::string::npos) << cmd << ": expected \"" << what << "\" in\n" << r.output;
}

// Every command path ("data prepare", ...) and its --help text.
const std::map<std::string, std::string>& all_help() {
  static std::map<std::string, std::string> out;
  if (!out.empty()) return out;
  std::vector<std::string> todo = {""};
  while (!todo.empty()) {
    const std::string cmd = todo.back();
    todo.pop_back();
    auto r = run_cli(cmd + " --help");
    EXPECT_EQ(r.exit_code, 0) << cmd << ": " << r.output;
    out[cmd] = r.output;
    const size_t sub = r.output.find("Subcommands:");
    if (sub == std::string::npos) continue;
    std::istringstream in(r.output.substr(sub));
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
      std::smatch m;
      if (std::regex_match(line, m, std::regex(R"(\s+([a-z][a-z0-9-]*)\s+.*)")))
        todo.push_back(cmd.empty() ? m[1].str() : cmd + " " + m[1].str());
      else if (!line.empty() && line[0] != ' ')
        break;
    }
  }
  return out;
}

std::set<std::string> flags_in(const std::string& text) {
  std::set<std::string> flags;
  std::regex flag(R"((^|[^a-z0-9-])(--[a-z][a-z0-9-]*))");
  for (std::sregex_iterator it(text.begin(), text.end(), flag), end; it != end; ++it) flags.insert((*it)[2].str());
  flags.erase("--help");
  return flags;
}

std::string synth(const ScratchDir& dir, const std::string& name) {
  const std::string out = (dir / name).string();
  auto r = run_cli("-q data synth --users 30 --items 40 --events-per-user 20 --out " + out);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return out;
}

std::string pretrain_args(const std::string& data, const std::string& run) {
  return "-q encoder pretrain --data " + data + " --out " + run +
         " --layers 1 --heads 2 --dim 16 --max-len 16 --steps 4 --batch-size 4 --eval-every 2 --threads 1";
}

void check_docs_against_help() {
  const std::string docs = read_file(fs::path(USERLLM_SOURCE_DIR) / "docs/cli.md");
  // A command's section runs from its "### `userllm CMD`" heading to the next heading. Its usage
  // (the heading, fenced blocks, an inline usage paragraph right under it, a table's first column)
  // lists its flags; its prose may name others' (`data prepare --format` in data synth's).
  std::map<std::string, std::string> sections, usage;
  std::regex heading(R"(^#{2,3} `?userllm ([a-z][a-z -]*[a-z]))");
  std::string current;
  bool fenced = false, flag_paragraph = false, first_paragraph = false;
  std::istringstream in(docs);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (line.rfind("```", 0) == 0) fenced = !fenced;
    if (!fenced && std::regex_search(line, m, heading)) {
      current = m[1].str();
      usage[current] += line + "\n";
      first_paragraph = true;
      continue;
    }
    if (!fenced && line.rfind("#", 0) == 0) current.clear();
    if (current.empty()) continue;
    sections[current] += line + "\n";
    if (line.empty()) {
      first_paragraph = first_paragraph && !flag_paragraph && sections[current].find_first_not_of('\n') == std::string::npos;
      flag_paragraph = false;
    } else if (first_paragraph && line.rfind("`--", 0) == 0) {
      flag_paragraph = true;  // the inline usage line right under the heading
    } else {
      first_paragraph = false;
    }
    if (fenced || flag_paragraph) usage[current] += line + "\n";
    else if (line.rfind("| `--", 0) == 0) usage[current] += line.substr(0, line.find(" |", 2)) + "\n";
  }
  for (const auto& [cmd, help] : all_help()) {
    if (cmd.empty() || help.find("Subcommands:") != std::string::npos) continue;  // groups: no flags of their own
    ASSERT_TRUE(sections.count(cmd)) << "docs/cli.md has no section \"### `userllm " << cmd << "`\"";
    const auto shown = flags_in(help.substr(help.find("Options:")));
    const auto mentioned = flags_in(sections[cmd] + usage[cmd]), listed = flags_in(usage[cmd]);
    for (const auto& f : shown) EXPECT_TRUE(mentioned.count(f)) << "userllm " << cmd << " " << f << ": not in docs/cli.md";
    for (const auto& f : listed)
      EXPECT_TRUE(shown.count(f)) << "userllm " << cmd << " " << f << ": in docs/cli.md's usage, not in --help";
  }
}

}  // namespace

TEST(Cli, UsageErrorsAreOneLineWithStatus2) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"dat stats x", "unknown command 'dat' for 'userllm' (did you mean 'data'?)"},
      {"data stat x", "unknown command 'stat' for 'userllm data' (did you mean 'stats'?)"},
      {"encoder pretrian --data x --out y", "did you mean 'pretrain'?"},
      {"data", "'userllm data' needs a command: prepare, synth, stats, show, corpus"},
      {"--threads abc data stats x", "--threads"},
      {"--threads -2 data stats x", "-2 is out of range"},
      {"--threads 100000 data stats x", "100000 is out of range: expected an integer in [0, "},
      {"data synth --out x --users 0", "--users: 0 is out of range: expected an integer in [1, "},
      {"data synth --out x --users 1.5", "'1.5' is not an integer"},
      {"lm generate --model m --prompt p --top-p 0", "--top-p: 0 is out of range: expected a number in (0, 1]"},
      {"finetune --out r --lr 0", "--lr: 0 is out of range"},
      {"data stats", "dir is required"},
      {"data stats x --bogus", "--bogus"},
  };
  for (const auto& [args, what] : cases) expect_one_error_line(run_cli(args), 2, what, args);
}

TEST(Cli, VersionNamesLibtorchCudaAndBlas) {
  auto r = run_cli("--version");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.rfind("userllm ", 0), 0u) << r.output;
  EXPECT_NE(r.output.find("libtorch 1."), std::string::npos) << r.output;  // 2.x builds print 2.
  EXPECT_NE(r.output.find("CUDA "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("BLAS: "), std::string::npos) << r.output;
}

// One test for both checks of every command's --help: each `userllm --help` loads libtorch (about a second).
TEST(Cli, HelpShowsEveryRangeAndDocsListExactlyItsFlags) {
  // CLI11 prints a flag's type (INT, UINT, FLOAT) and then its validator's description.
  for (const auto& [cmd, help] : all_help()) {
    std::istringstream in(help);
    for (std::string line; std::getline(in, line);) {
      std::smatch m;
      if (!std::regex_search(line, m, std::regex(R"((--[a-z-]+) (INT|UINT|FLOAT)\b)"))) continue;
      EXPECT_TRUE(std::regex_search(line, std::regex(R"((INT|UINT|FLOAT):in [\[(])")))
          << "userllm " << cmd << " " << m[1] << ": no range in --help:\n" << line;
    }
  }
  check_docs_against_help();
}

TEST(Cli, DeviceErrorsAreOneLine) {
  if (run_cli("--version").output.find("CUDA available") != std::string::npos) GTEST_SKIP() << "this libtorch has CUDA";
  for (const std::string args : {"evaluate --run nowhere --device cuda", "lm generate --model m --prompt p --device cuda:0",
                                 "encoder eval --data x --run y --device cuda", "finetune --out r --device cuda:1",
                                 "serve --run nowhere --device cuda"})
    expect_one_error_line(run_cli(args), 1, "CUDA is not available", args);
  expect_one_error_line(run_cli("encoder eval --data x --run y --device tpu"), 1, "--device tpu: unknown device", "tpu");
}

TEST(Cli, OutputsNeverReplaceWhatTheUserDidNotAskFor) {
  ScratchDir dir;
  const std::string data = synth(dir, "data");
  const std::string events = read_file(fs::path(data) / "events.bin");

  // The same kind of output: only with --overwrite.
  auto r = run_cli("-q data synth --users 30 --items 40 --events-per-user 20 --seed 2 --out " + data);
  expect_one_error_line(r, 1, "already holds a prepared dataset; pass --overwrite", "synth again");
  EXPECT_EQ(read_file(fs::path(data) / "events.bin"), events);
  r = run_cli("-q data synth --users 30 --items 40 --events-per-user 20 --seed 2 --overwrite --out " + data);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(read_file(fs::path(data) / "events.bin"), events);

  // Another kind, or something that is not ours: never, --overwrite or not.
  fs::create_directories(dir / "home");
  userllm::write_file_atomic(dir / "home" / "notes.txt", "mine");
  for (const std::string flag : {"", " --overwrite"}) {
    r = run_cli("-q data synth --users 30 --items 40 --events-per-user 20 --out " + (dir / "home").string() + flag);
    expect_one_error_line(r, 1, "holds other files, not a prepared dataset", "synth into home" + flag);
    r = run_cli("-q data synth --csv --users 30 --items 40 --events-per-user 20 --out " + data + flag);
    expect_one_error_line(r, 1, "holds a prepared dataset, not a MovieLens CSV log", "csv over a dataset" + flag);
    r = run_cli("-q data corpus " + data + " --out " + data + "/events.bin" + flag);
    expect_one_error_line(r, 1, "belongs to a prepared dataset", "corpus over events.bin" + flag);
  }
  EXPECT_EQ(read_file(dir / "home" / "notes.txt"), "mine");

  // An input of the command: never.
  expect_one_error_line(run_cli("-q data corpus " + data + " --out " + data), 1, "is an input of this command",
                        "corpus over its input");
  expect_one_error_line(run_cli(pretrain_args(data, data)), 1, "is an input of this command", "pretrain into its data");
  expect_one_error_line(run_cli(pretrain_args(data, dir.path().string())), 1, "an input of this command",
                        "pretrain into a parent of its data");

  // A run's own files are not another command's outputs.
  const std::string run = (dir / "enc").string();
  ASSERT_EQ(run_cli(pretrain_args(data, run)).exit_code, 0);
  const std::string checkpoint = read_file(fs::path(run) / "checkpoint.pt");
  r = run_cli("-q encoder embed --data " + data + " --run " + run + " --overwrite --out " + run + "/checkpoint.pt");
  expect_one_error_line(r, 1, "belongs to an encoder run", "embed over the checkpoint");
  r = run_cli("-q data corpus " + data + " --overwrite --out " + run + "/encoder.json");
  expect_one_error_line(r, 1, "belongs to an encoder run", "corpus over encoder.json");
  EXPECT_EQ(read_file(fs::path(run) / "checkpoint.pt"), checkpoint);
  // ... but a new file beside them is fine, and replacing it needs --overwrite.
  const std::string emb = run + "/users.emb";
  EXPECT_EQ(run_cli("-q encoder embed --data " + data + " --run " + run + " --out " + emb).exit_code, 0);
  expect_one_error_line(run_cli("-q encoder embed --data " + data + " --run " + run + " --out " + emb), 1,
                        "exists; pass --overwrite", "embed again");
  EXPECT_EQ(run_cli("-q encoder embed --data " + data + " --run " + run + " --overwrite --out " + emb).exit_code, 0);
  r = run_cli(pretrain_args(data, (dir / "data").string() + "-copy"));  // a fresh directory next to it: fine
  EXPECT_EQ(r.exit_code, 0) << r.output;
  expect_one_error_line(run_cli(pretrain_args(data, (dir / "home").string())), 1, "holds other files, not an encoder run",
                        "pretrain into home");
}

TEST(Cli, AResumedRunKeepsItsOptionsAndAFinishedOneStaysAsItIs) {
  ScratchDir dir;
  const std::string data = synth(dir, "data"), run = (dir / "enc").string();
  ASSERT_EQ(run_cli(pretrain_args(data, run)).exit_code, 0);
  const std::string metrics = read_file(fs::path(run) / "metrics.jsonl");
  const std::string checkpoint = read_file(fs::path(run) / "checkpoint.pt");

  // The same command with --resume: the options repeat their values, and the run is finished.
  auto r = run_cli(pretrain_args(data, run) + " --resume");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("finished before (4 of 4 steps); nothing to resume"), std::string::npos) << r.output;
  r = run_cli("-q encoder pretrain --data " + data + " --out " + run + " --resume");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_file(fs::path(run) / "metrics.jsonl"), metrics);
  EXPECT_EQ(read_file(fs::path(run) / "checkpoint.pt"), checkpoint);

  // A changed option is refused by name; --steps cannot extend a run.
  r = run_cli("-q encoder pretrain --data " + data + " --out " + run + " --resume --steps 8");
  expect_one_error_line(r, 1, "--steps 8: the run was started with 4; a resumed run keeps", "--steps 8");
  EXPECT_NE(r.output.find("cannot be extended"), std::string::npos) << r.output;
  r = run_cli("-q encoder pretrain --data " + data + " --out " + run + " --resume --lr 0.5");
  expect_one_error_line(r, 1, "--lr 0.5: the run was started with", "--lr");
  r = run_cli("-q encoder pretrain --data " + data + " --out " + run + " --resume --no-time-gap");
  expect_one_error_line(r, 1, "--no-time-gap: a resumed run keeps the options it started with", "--no-time-gap");
  EXPECT_EQ(read_file(fs::path(run) / "metrics.jsonl"), metrics);
  expect_one_error_line(run_cli("-q encoder pretrain --data " + data + " --out " + (dir / "none").string() + " --resume"),
                        1, "no run to resume", "nothing to resume");
}
