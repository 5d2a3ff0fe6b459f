// `userllm data ...`: prepare real logs, generate synthetic data, inspect a
// prepared dataset, export an LM corpus.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <ctime>
#include <iostream>

#include "cli/commands.h"
#include "common/error.h"
#include "common/outputs.h"
#include "common/run_dir.h"
#include "data/corpus.h"
#include "data/dataset.h"
#include "data/readers.h"
#include "data/synth.h"

namespace userllm::cli {
namespace {

namespace fs = std::filesystem;
using data::Dataset;

struct PrepareArgs {
  std::string format, input, meta, out;
  data::PrepareOptions options;
  bool skip_bad_lines = false, dedupe = false, overwrite = false;
};

void run_prepare(const PrepareArgs& a) {
  std::string genre_field;
  if (a.format == "movielens")
    genre_field = "genre";
  else if (a.format == "amazon" || a.format == "google-local")
    genre_field = "category";
  else
    fail("unknown --format \"" + a.format + "\" (expected movielens, amazon or google-local)");
  if (!fs::exists(a.input)) fail(a.input + ": not found");
  check_output(a.out, OutputKind::kDataset, {"--out", {a.input, a.meta}, a.overwrite});
  std::optional<fs::path> meta;
  if (!a.meta.empty()) meta = fs::path(a.meta);
  data::ReadOptions read{a.skip_bad_lines};
  data::PrepareOptions options = a.options;
  options.dedupe = a.dedupe || a.format == "amazon";  // Amazon's 5-core files repeat reviews
  data::LogBuilder builder(a.format, genre_field);
  if (a.format == "movielens") {
    if (meta) fail("--meta is not used with --format movielens (movies.csv is found beside ratings.csv)");
    data::read_movielens(a.input, builder, read);
  } else if (a.format == "amazon") {
    data::read_amazon(a.input, meta, builder, read);
  } else {
    data::read_google_local(a.input, meta, builder, read);
  }
  nlohmann::json config = {{"format", a.format},
                           {"input", a.input},
                           {"meta", a.meta},
                           {"min_user_events", options.min_user_events},
                           {"min_item_events", options.min_item_events},
                           {"min_token_count", options.min_token_count},
                           {"dedupe", options.dedupe},
                           {"skip_bad_lines", a.skip_bad_lines}};
  builder.finish(options, a.out, [&](const fs::path& tmp) { write_run_config(tmp, config); });
}

nlohmann::json stats_json(const Dataset& ds) {
  nlohmann::json meta = nlohmann::json::parse(ds.metadata_json());
  nlohmann::json fields = nlohmann::json::object();
  for (const auto& f : ds.fields()) fields[f.name] = f.vocab_size;
  nlohmann::json report = meta.value("report", nlohmann::json::object());
  return {{"name", ds.name()},
          {"users", ds.num_users()},
          {"items", meta.value("items", 0)},
          {"events", ds.num_events()},
          {"fields", fields},
          {"splits", meta.value("splits", nlohmann::json::object())},
          {"duplicates_removed", report.value("duplicates_removed", 0)},
          {"skipped_lines", report.value("skipped_lines", 0)},
          {"lines_read", report.value("lines_read", 0)},
          {"filtered_events", report.value("filtered_events", 0)},
          {"has_text", meta.value("has_text", false)}};
}

std::string date_of(int64_t ts) {
  std::time_t t = std::time_t(ts);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

// "2019-03-02  Toy Story (1995)  [Adventure|Animation]  4.5  "Great fun...""
void show_user(const Dataset& ds, const std::string& key, uint64_t last) {
  auto u = ds.find_user(key);
  if (!u) fail("user \"" + key + "\" is not in this dataset (user ids are the source data's keys)");
  int gf = ds.field_index(ds.genre_field()), rf = ds.field_index("rating");
  uint64_t b = ds.user_begin(*u), e = ds.user_end(*u);
  if (last && e - b > last) b = e - last;
  std::printf("user %s: %llu events (showing %llu)\n", key.c_str(), (unsigned long long)(ds.user_end(*u) - ds.user_begin(*u)),
              (unsigned long long)(e - b));
  for (uint64_t i = b; i < e; ++i) {
    uint32_t item = ds.column(0)[i];
    std::string line = date_of(ds.timestamps()[i]) + "  " + std::string(ds.item_title(item));
    if (ds.item_year(item)) line += " (" + std::to_string(ds.item_year(item)) + ")";
    if (gf >= 0) {
      std::string genres;
      for (uint32_t g : ds.item_genres(item)) genres += (genres.empty() ? "" : "|") + std::string(ds.token(gf, g));
      if (!genres.empty()) line += "  [" + genres + "]";
    }
    if (rf >= 0) line += "  " + std::string(ds.token(rf, ds.column(rf)[i]));
    std::string text(ds.event_summary(i).empty() ? ds.event_text(i) : ds.event_summary(i));
    if (!text.empty()) {
      if (text.size() > 60) text = text.substr(0, 57) + "...";
      for (char& c : text)
        if (c == '\n' || c == '\r') c = ' ';
      line += "  \"" + text + "\"";
    }
    std::printf("%s\n", line.c_str());
  }
  std::fflush(stdout);
}

}  // namespace

void add_data_commands(CLI::App& app) {
  auto* cmd = app.add_subcommand("data", "Prepare, generate and inspect interaction logs");
  cmd->require_subcommand(1);

  auto prepare = std::make_shared<PrepareArgs>();
  auto* p = cmd->add_subcommand("prepare", "Read a real log into a prepared dataset directory");
  p->add_option("--format", prepare->format, "movielens, amazon or google-local")->required();
  p->add_option("--input", prepare->input, "Ratings/reviews file or release directory")->required();
  p->add_option("--meta", prepare->meta, "Item metadata file (Amazon, Google Local)");
  p->add_option("--out", prepare->out, "Output directory (written atomically)")->required();
  p->add_option("--min-user-events", prepare->options.min_user_events, "k-core: drop users with fewer events");
  p->add_option("--min-item-events", prepare->options.min_item_events, "k-core: drop items with fewer events");
  p->add_option("--min-token-count", prepare->options.min_token_count, "Rarer field tokens become OOV")
      ->capture_default_str();
  p->add_flag("--dedupe", prepare->dedupe, "Drop exact duplicate events (always on for amazon)");
  p->add_flag("--skip-bad-lines", prepare->skip_bad_lines, "Count and skip malformed lines instead of failing");
  p->add_flag("--overwrite", prepare->overwrite, "Replace an existing prepared dataset in --out");
  p->callback([prepare] { run_prepare(*prepare); });

  auto synth = std::make_shared<data::SynthOptions>();
  auto synth_out = std::make_shared<std::string>();
  auto csv = std::make_shared<bool>(false);
  auto overwrite = std::make_shared<bool>(false);
  auto* s = cmd->add_subcommand("synth", "Generate the built-in synthetic dataset (with ground truth)");
  s->add_option("--out", *synth_out, "Output directory (written atomically)")->required();
  s->add_option("--users", synth->users, "Number of users")->capture_default_str();
  s->add_option("--items", synth->items, "Number of items")->capture_default_str();
  s->add_option("--events-per-user", synth->events_per_user, "Mean events per user")->capture_default_str();
  s->add_option("--seed", synth->seed, "Random seed (same seed, same bytes)")->capture_default_str();
  s->add_flag("--csv", *csv, "Write MovieLens CSV (ratings.csv, movies.csv) instead of a prepared dataset");
  s->add_flag("--overwrite", *overwrite, "Replace an existing dataset of the same kind in --out");
  s->callback([synth, synth_out, csv, overwrite] {
    check_output(*synth_out, *csv ? OutputKind::kCsvLog : OutputKind::kDataset, {"--out", {}, *overwrite});
    nlohmann::json config = {{"users", synth->users},
                             {"items", synth->items},
                             {"events_per_user", synth->events_per_user},
                             {"seed", synth->seed},
                             {"csv", *csv}};
    auto record = [&](const fs::path& tmp) { write_run_config(tmp, config); };
    if (*csv)
      data::write_synthetic_csv(*synth, *synth_out, record);
    else
      data::write_synthetic_dataset(*synth, *synth_out, record);
  });

  auto dir = std::make_shared<std::string>();
  auto* st = cmd->add_subcommand("stats", "Print a prepared dataset's counts as one JSON object");
  st->add_option("dir", *dir, "Prepared dataset directory")->required();
  st->callback([dir] { std::cout << stats_json(Dataset::open(*dir)).dump() << std::endl; });

  auto user = std::make_shared<std::string>();
  auto last = std::make_shared<uint64_t>(0);
  auto* sh = cmd->add_subcommand("show", "Print one user's history as readable lines");
  sh->add_option("dir", *dir, "Prepared dataset directory")->required();
  sh->add_option("--user", *user, "User id as in the source data")->required();
  sh->add_option("--last", *last, "Only the last N events (0 = all)");
  sh->callback([dir, user, last] { show_user(Dataset::open(*dir), *user, *last); });

  auto corpus_out = std::make_shared<std::string>();
  auto* co = cmd->add_subcommand("corpus", "Write an LM pretraining corpus (one document per line)");
  co->add_option("dir", *dir, "Prepared dataset directory")->required();
  co->add_option("--out", *corpus_out, "Output text file (written atomically)")->required();
  auto corpus_overwrite = std::make_shared<bool>(false);
  co->add_flag("--overwrite", *corpus_overwrite, "Replace an existing file");
  co->callback([dir, corpus_out, corpus_overwrite] {
    check_output(*corpus_out, OutputKind::kFile, {"--out", {*dir}, *corpus_overwrite});
    auto r = data::write_corpus(Dataset::open(*dir), *corpus_out);
    std::fprintf(stderr, "%s: %llu documents, %llu bytes\n", corpus_out->c_str(), (unsigned long long)r.documents,
                 (unsigned long long)r.bytes);
  });
}

}  // namespace userllm::cli
