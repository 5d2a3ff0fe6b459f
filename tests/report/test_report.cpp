// `userllm report` on tiny runs: two evaluated fine-tuned runs, one not yet
// evaluated, and a real (tiny) encoder pretraining run on synthetic data. The
// page must hold every table and figure, the figures must be real PNGs drawn
// by gnuplot at the requested size, and the numbers must be the runs' own.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/metrics.h"
#include "data/dataset.h"
#include "data/synth.h"
#include "encoder/batch.h"
#include "encoder/events.h"
#include "encoder/pretrain.h"
#include "report/report.h"
#include "test_util.h"
#include "train/finetune.h"

namespace fs = std::filesystem;
using userllm::test::ScratchDir;
namespace report = userllm::report;

namespace {

bool have_gnuplot() { return std::system("gnuplot --version >/dev/null 2>&1") == 0; }

#define SKIP_WITHOUT_GNUPLOT() \
  if (!have_gnuplot()) GTEST_SKIP() << "gnuplot is not installed (scripts/setup installs gnuplot-nox)"

// Width and height of a complete PNG, read independently of the code under test.
std::pair<uint32_t, uint32_t> png_size(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  unsigned char b[24] = {};
  in.read(reinterpret_cast<char*>(b), 24);
  EXPECT_EQ(in.gcount(), 24) << p;
  const unsigned char sig[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
  EXPECT_EQ(0, std::memcmp(b, sig, 8)) << p << " has no PNG signature";
  EXPECT_EQ(0, std::memcmp(b + 12, "IHDR", 4)) << p << " has no IHDR first";
  // A whole file: it ends with the IEND chunk (length 0, type, CRC).
  const std::string bytes = userllm::read_file(p);
  EXPECT_TRUE(bytes.size() > 36 && bytes.compare(bytes.size() - 12, 12, std::string("\0\0\0\0IEND\xae\x42\x60\x82", 12)) == 0)
      << p << " is truncated (no IEND at the end)";
  auto be32 = [&](int at) { return uint32_t(b[at]) << 24 | uint32_t(b[at + 1]) << 16 | uint32_t(b[at + 2]) << 8 | b[at + 3]; };
  return {be32(16), be32(20)};
}

int count_data_rows(const fs::path& dat) {
  std::ifstream in(dat);
  std::string line;
  int n = 0;
  while (std::getline(in, line))
    if (!line.empty() && line[0] != '#') ++n;
  return n;
}

struct FakeRun {
  std::string name;
  userllm::bridge::IntegrationKind integration;
  int64_t perceiver;
  int history;
  double recall10;  // < 0: not evaluated
  double flops;
};

// What sets runs apart beyond their integration.
struct RunVariant {
  userllm::bridge::Strategy strategy = userllm::bridge::Strategy::kFull;
  int min_history = 1;
  std::string data;  // "" = the suite's dataset
};

// A tiny synthetic dataset and a real encoder pretrained for a few steps,
// shared by the tests of this file.
class ReportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new ScratchDir;
    userllm::data::SynthOptions so;
    so.users = 40;
    so.items = 60;
    so.events_per_user = 20;
    so.seed = 3;
    userllm::data::write_synthetic_dataset(so, data());
    auto ds = userllm::data::Dataset::open(data());
    auto ev = userllm::encoder::events_from(ds, true);
    userllm::encoder::PretrainOptions o;
    o.model.fields = userllm::encoder::fields_for(ev, 16, 8);
    o.model.layers = 1;
    o.model.heads = 2;
    o.model.dim = 16;
    o.model.ffn_mult = 2;
    o.model.max_len = 16;
    o.steps = 6;
    o.batch_size = 8;
    o.eval_every = 3;
    o.eval_users = 20;
    o.log_every = 1;
    o.threads = 1;
    userllm::encoder::pretrain(ev, encoder(), o, false);
  }
  static void TearDownTestSuite() {
    delete root_;
    root_ = nullptr;
  }
  static fs::path data() { return root_->path() / "data"; }
  static fs::path encoder() { return root_->path() / "enc"; }

  // A fine-tuned run's files as finetune and evaluate write them.
  static fs::path write_run(const fs::path& dir, const FakeRun& f, const RunVariant& v = RunVariant()) {
    const fs::path run = dir / f.name;
    userllm::train::FinetuneOptions o;
    o.data = v.data.empty() ? data().string() : v.data;
    o.encoder = encoder().string();
    o.model.strategy = v.strategy;
    o.min_history = v.min_history;
    o.llm = (dir / "llm").string();
    o.history = f.history;
    o.model.integration = f.integration;
    o.model.perceiver = f.perceiver;
    fs::create_directories(run / "run");
    const std::string command = "userllm finetune --out " + f.name + " --history " + std::to_string(f.history);
    userllm::write_file_atomic(run / "run" / "config.json",
                               nlohmann::json({{"command", command}, {"version", "test"}, {"options", userllm::train::to_json(o)}}).dump());
    userllm::write_file_atomic(run / "user_llm.json", nlohmann::json({{"format", "userllm-user-llm-1"},
                                                                      {"options", userllm::train::to_json(o)},
                                                                      {"sources", nlohmann::json::object()}})
                                                          .dump());
    {
      userllm::MetricsLog m(run / "metrics.jsonl", false);
      for (int step = 1; step <= 10; ++step) m.write({{"step", step}, {"loss", 5.0 - 0.3 * step}, {"lr", 1e-3}});
      m.write({{"step", 5}, {"split", "validation"}, {"loss", 3.9}});
      m.write({{"step", 10}, {"split", "validation"}, {"loss", 3.1}});
    }
    if (f.recall10 >= 0) {
      nlohmann::json ev = {
          {"task", "next-item"},
          {"examples", 40},
          {"metrics", {{"recall@1", f.recall10 / 4}, {"recall@5", f.recall10 / 2}, {"recall@10", f.recall10}, {"hit_ratio@1_of_20", 0.5}}},
          {"metrics_std_error", {{"recall@1", 0.01}, {"recall@5", 0.02}, {"recall@10", 0.03}, {"hit_ratio@1_of_20", 0.04}}},
          {"cost", {{"flops_per_request", f.flops}, {"llm_flops_per_request", f.flops / 2}, {"latency_ms", 12.5},
                    {"llm_input_tokens", 17.0}, {"history_events", f.history}}}};
      userllm::write_file_atomic(run / "eval-test.json", ev.dump(2));
    }
    return run;
  }

  static ScratchDir* root_;
};
ScratchDir* ReportTest::root_ = nullptr;

TEST_F(ReportTest, EveryTableAndFigureFromTwoRuns) {
  SKIP_WITHOUT_GNUPLOT();
  ScratchDir dir;
  using IK = userllm::bridge::IntegrationKind;
  report::ReportOptions o;
  o.runs = {write_run(dir.path(), {"ft-ca", IK::kCrossAttention, 0, 10, 0.3125, 1.5e9}),
            write_run(dir.path(), {"ft-sp", IK::kSoftPrompt, 4, 20, 0.1875, 4.25e10}),
            write_run(dir.path(), {"ft-pending", IK::kSoftPrompt, 0, 20, -1, 0}), encoder()};
  o.out = dir / "report";
  auto r = report::write_report(o);

  ASSERT_EQ(r.index, o.out / "index.html");
  const std::string html = userllm::read_file(r.index);
  EXPECT_EQ(r.tables, 2);
  EXPECT_NE(html.find("<table id=\"runs\">"), std::string::npos);
  EXPECT_NE(html.find("<table id=\"comparison-next-item\">"), std::string::npos);

  // Every figure: listed, embedded, a PNG of the size its script asked for, with its script and data beside it.
  const std::vector<std::string> expected = {"quality-next-item", "cost",          "curves-ft-ca", "curves-ft-sp",
                                             "curves-ft-pending", "curves-enc", "embeddings-enc"};
  ASSERT_EQ(r.figures.size(), expected.size());
  for (const auto& name : expected) {
    SCOPED_TRACE(name);
    const fs::path png = o.out / (name + ".png");
    EXPECT_NE(std::find(r.figures.begin(), r.figures.end(), png), r.figures.end());
    EXPECT_NE(html.find("<img src=\"" + name + ".png\""), std::string::npos);
    EXPECT_TRUE(fs::exists(o.out / (name + ".gp")));
    EXPECT_TRUE(fs::exists(o.out / (name + ".dat")));
    auto [w, h] = png_size(png);
    EXPECT_EQ(w, 900u);
    EXPECT_EQ(h, name.rfind("embeddings", 0) == 0 ? 620u : 520u);
  }

  // The runs' own numbers: metrics with their standard errors, FLOPs, the missing evaluation.
  EXPECT_NE(html.find("0.3125 &plusmn; 0.0300"), std::string::npos);
  EXPECT_NE(html.find("0.1875 &plusmn; 0.0300"), std::string::npos);
  EXPECT_NE(html.find("1.50G"), std::string::npos);
  EXPECT_NE(html.find("42.5G"), std::string::npos);
  EXPECT_NE(html.find("ft-pending: eval-test.json"), std::string::npos);
  EXPECT_NE(html.find("userllm finetune --out ft-ca --history 10"), std::string::npos);

  // Quality: one series per integration, the points being (history, recall@10).
  const std::string quality = userllm::read_file(o.out / "quality-next-item.dat");
  EXPECT_NE(quality.find("# cross-attention\n# x y stderr\n10 0.3125 0.03\n"), std::string::npos) << quality;
  EXPECT_NE(quality.find("# soft-prompt + Perceiver K=4\n# x y stderr\n20 0.1875 0.03\n"), std::string::npos) << quality;
  EXPECT_NE(userllm::read_file(o.out / "cost.dat").find("\n20 4.25e+10 0\n"), std::string::npos);
  // Curves: every training record of the encoder run, and its validation metric.
  const std::string enc_curve = userllm::read_file(o.out / "curves-enc.dat");
  EXPECT_EQ(count_data_rows(o.out / "curves-enc.dat"), 6 + 2) << enc_curve;
  EXPECT_NE(enc_curve.find("validation recall@10"), std::string::npos);
  // Projection: every user (all have train events) exactly once.
  EXPECT_EQ(count_data_rows(o.out / "embeddings-enc.dat"), 40);
}

// Runs of two datasets get a table and figure each; inside one, lines are
// told apart by strategy and by user set (--min-history) when those differ.
TEST_F(ReportTest, RunsApartByDatasetStrategyAndUserSet) {
  SKIP_WITHOUT_GNUPLOT();
  ScratchDir dir;
  using IK = userllm::bridge::IntegrationKind;
  using S = userllm::bridge::Strategy;
  fs::copy(data(), dir / "other", fs::copy_options::recursive);
  report::ReportOptions o;
  o.runs = {write_run(dir.path(), {"full", IK::kCrossAttention, 0, 10, 0.25, 1e9}),
            write_run(dir.path(), {"proj", IK::kCrossAttention, 0, 10, 0.125, 1e9}, {S::kProj, 1, ""}),
            write_run(dir.path(), {"long", IK::kCrossAttention, 0, 20, 0.5, 1e9}, {S::kFull, 20, ""}),
            write_run(dir.path(), {"longer", IK::kCrossAttention, 0, 40, 0.625, 1e9}, {S::kFull, 20, ""}),
            write_run(dir.path(), {"elsewhere", IK::kCrossAttention, 0, 10, 0.75, 1e9}, {S::kFull, 1, (dir / "other").string()})};
  o.out = dir / "report";
  auto r = report::write_report(o);
  EXPECT_EQ(r.tables, 3);
  const std::string html = userllm::read_file(r.index);
  EXPECT_NE(html.find("<table id=\"comparison-next-item_on_data\">"), std::string::npos);
  EXPECT_NE(html.find("<table id=\"comparison-next-item_on_other\">"), std::string::npos);
  const std::string quality = userllm::read_file(o.out / "quality-next-item_on_data.dat");
  // Only the line against length is drawn; the runs at one length stay in the table.
  EXPECT_NE(quality.find("# cross-attention, full, users with 20+ events\n# x y stderr\n20 0.5 0.03\n40 0.625 0.03\n"),
            std::string::npos)
      << quality;
  EXPECT_EQ(quality.find("all users"), std::string::npos) << quality;
  EXPECT_NE(html.find("2 series measured at a single history length are in the table only"), std::string::npos);
  EXPECT_NE(html.find("0.1250 &plusmn; 0.0300"), std::string::npos);  // the proj run, in the table
  EXPECT_NE(userllm::read_file(o.out / "quality-next-item_on_other.dat").find("# cross-attention\n# x y stderr\n10 0.75"),
            std::string::npos);
}

// scripts/demo passes relative paths (runs/demo/report): gnuplot, run inside
// the output directory, must still find its files.
TEST_F(ReportTest, RelativeOutputDirectory) {
  SKIP_WITHOUT_GNUPLOT();
  ScratchDir dir;
  using IK = userllm::bridge::IntegrationKind;
  const fs::path run = write_run(dir.path(), {"ft", IK::kCrossAttention, 0, 10, 0.25, 1e9});
  const fs::path cwd = fs::current_path();
  fs::current_path(dir.path());
  report::ReportOptions o;
  o.runs = {run};
  o.out = fs::path("nested") / "report";
  fs::create_directories("nested");
  try {
    auto r = report::write_report(o);
    EXPECT_EQ(r.figures.size(), 4u);  // quality, cost, curves, embeddings
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
  }
  fs::current_path(cwd);
  EXPECT_TRUE(fs::exists(dir / "nested" / "report" / "quality-next-item.png"));
}

TEST_F(ReportTest, RunWithoutEvaluationStillGetsItsCurves) {
  SKIP_WITHOUT_GNUPLOT();
  ScratchDir dir;
  report::ReportOptions o;
  o.runs = {write_run(dir.path(), {"only", userllm::bridge::IntegrationKind::kCrossAttention, 0, 10, -1, 0})};
  o.out = dir / "report";
  auto r = report::write_report(o);
  const std::string html = userllm::read_file(r.index);
  EXPECT_EQ(r.tables, 1);
  EXPECT_NE(html.find("no comparison table"), std::string::npos);
  EXPECT_NE(html.find("No cost figure"), std::string::npos);
  ASSERT_EQ(r.figures.size(), 2u);  // its curves and its encoder's projection
  EXPECT_EQ(r.figures[0].filename(), "curves-only.png");
  EXPECT_EQ(r.figures[1].filename(), "embeddings-enc.png");
}

TEST_F(ReportTest, RunsOfTheSameNameKeepTheirOwnFigures) {
  SKIP_WITHOUT_GNUPLOT();
  ScratchDir dir;
  using IK = userllm::bridge::IntegrationKind;
  report::ReportOptions o;
  o.runs = {write_run(dir / "a", {"ft", IK::kCrossAttention, 0, 10, 0.25, 1e9}),
            write_run(dir / "b", {"ft", IK::kText, 0, 10, -1, 0})};
  o.out = dir / "report";
  auto r = report::write_report(o);
  std::vector<std::string> names;
  for (const auto& f : r.figures) names.push_back(f.filename().string());
  // The text run names the encoder too, but does not read it: one projection, credited to the first run only.
  EXPECT_EQ(names, (std::vector<std::string>{"quality-next-item.png", "cost.png", "curves-ft.png", "curves-ft-2.png",
                                              "embeddings-enc.png"}));
  const std::string html = userllm::read_file(r.index);
  EXPECT_NE(html.find("<td>ft-2</td><td>fine-tuned</td>"), std::string::npos);
  EXPECT_NE(html.find("Used by: ft."), std::string::npos);
}

TEST_F(ReportTest, CostFromBenchRows) {
  SKIP_WITHOUT_GNUPLOT();
  ScratchDir dir;
  report::ReportOptions o;
  o.runs = {write_run(dir.path(), {"ft", userllm::bridge::IntegrationKind::kCrossAttention, 0, 10, 0.25, 1e9})};
  o.out = dir / "report";
  o.bench = dir / "bench.json";
  // As bench/contextualization_cost --json writes them (other fields left out).
  userllm::write_file_atomic(o.bench, R"([
    {"history": 50, "integration": "text", "perceiver": 0, "flops": 2.0e9, "latency_ms": null},
    {"history": 500, "integration": "text", "perceiver": 0, "flops": 2.0e10, "latency_ms": null},
    {"history": 50, "integration": "cross-attention", "perceiver": 16, "flops": 3.0e8},
    {"history": 500, "integration": "cross-attention", "perceiver": 16, "flops": 3.5e8}])");
  auto r = report::write_report(o);
  const std::string cost = userllm::read_file(o.out / "cost.dat");
  EXPECT_NE(cost.find("# text\n# x y stderr\n50 2e+09 0\n500 2e+10 0\n"), std::string::npos) << cost;
  EXPECT_NE(cost.find("# cross-attention + Perceiver K=16\n# x y stderr\n50 300000000 0\n500 350000000 0\n"),
            std::string::npos) << cost;
  EXPECT_NE(userllm::read_file(r.index).find("bench/contextualization_cost"), std::string::npos);
  EXPECT_EQ(png_size(o.out / "cost.png").second, 520u);
}

TEST_F(ReportTest, BadInputsThrowAndLeaveNoOutput) {
  SKIP_WITHOUT_GNUPLOT();
  ScratchDir dir;
  auto run = write_run(dir.path(), {"bad", userllm::bridge::IntegrationKind::kCrossAttention, 0, 10, 0.5, 1e9});
  report::ReportOptions o;
  o.runs = {run};
  o.out = dir / "report";

  o.gnuplot = (dir / "no-such-gnuplot").string();
  EXPECT_THROW(report::write_report(o), userllm::Error);
  EXPECT_FALSE(fs::exists(o.out));
  o.gnuplot = "gnuplot";

  userllm::write_file_atomic(run / "eval-test.json", R"({"task": "next-item", "metrics": {"recall@10": "high"}})");
  try {
    report::write_report(o);
    FAIL() << "a non-numeric metric was accepted";
  } catch (const userllm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("eval-test.json: metrics.recall@10 is not a number"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(o.out));

  userllm::write_file_atomic(dir / "bench.json", R"([{"integration": "text", "history": 50}])");
  o.bench = dir / "bench.json";
  fs::remove(run / "eval-test.json");
  EXPECT_THROW(report::write_report(o), userllm::Error) << "a bench row without flops";
  o.bench.clear();

  report::ReportOptions none;
  none.runs = {dir / "nothing-here"};
  none.out = dir / "r2";
  EXPECT_THROW(report::write_report(none), userllm::Error);
  fs::create_directories(dir / "not-a-report");
  userllm::write_file_atomic(dir / "not-a-report" / "notes.txt", "mine");
  o.out = dir / "not-a-report";
  EXPECT_THROW(report::write_report(o), userllm::Error);
  EXPECT_EQ(userllm::read_file(dir / "not-a-report" / "notes.txt"), "mine");
}

}  // namespace

namespace {

TEST_F(ReportTest, CliReportsAnEncoderRunGivenWithItsData) {
  SKIP_WITHOUT_GNUPLOT();
  ScratchDir dir;
  const fs::path out = dir / "report";
  auto r = userllm::test::run_cli("-q report " + encoder().string() + " --data " + data().string() +
                                  " --embedding-users 10 --out " + out.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto printed = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_EQ(printed["index"], (out / "index.html").string());
  EXPECT_EQ(printed["figures"], 2);  // its curves and its projection
  EXPECT_EQ(printed["tables"], 1);
  const std::string html = userllm::read_file(out / "index.html");
  EXPECT_NE(html.find("<img src=\"embeddings-enc.png\""), std::string::npos);
  EXPECT_EQ(png_size(out / "embeddings-enc.png").first, 900u);
  EXPECT_EQ(count_data_rows(out / "embeddings-enc.dat"), 10) << "--embedding-users samples";

  // Run again over the earlier report: refused unasked, replaced whole with --overwrite.
  r = userllm::test::run_cli("-q report " + encoder().string() + " --out " + out.string());
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("pass --overwrite"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(out / "embeddings-enc.png"));
  r = userllm::test::run_cli("-q report " + encoder().string() + " --overwrite --out " + out.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(fs::exists(out / "embeddings-enc.png")) << "without --data the encoder run has no projection";
  EXPECT_NE(userllm::read_file(out / "index.html").find("No projection"), std::string::npos);

  r = userllm::test::run_cli("-q report " + (dir / "missing").string() + " --out " + (dir / "r2").string());
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("missing: not a directory"), std::string::npos) << r.output;
}

}  // namespace
