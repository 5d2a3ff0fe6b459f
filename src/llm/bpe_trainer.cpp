#include "llm/bpe_trainer.h"

#include <algorithm>
#include <queue>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/line_reader.h"
#include "common/progress.h"
#include "llm/pretokenizer.h"
#include "common/utf8.h"

namespace userllm::llm {
using nlohmann::json;
namespace {

// The Llama 3 split: contractions, words with one leading non-letter, up to 3 digits, punctuation runs, spaces.
constexpr const char* kSplitPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

const Regex& split_regex() {
  static const Regex re(kSplitPattern, false, "BPE trainer");
  return re;
}

uint64_t key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

struct Word {
  std::vector<int32_t> syms;
  int64_t count;
};

}  // namespace

BpeTrainer::BpeTrainer() = default;

void BpeTrainer::add_text(std::string_view text) {
  for (auto& piece : split_by(text, split_regex(), SplitBehavior::Isolated, false)) {
    word_counts_[bytes_to_unicode(piece)]++;
    words_seen_++;
  }
}

json BpeTrainer::train(const BpeTrainerOptions& opts) const {
  const int32_t n_special = int32_t(opts.special_tokens.size());
  if (opts.vocab_size < n_special + 256)
    fail("BPE trainer: vocab_size " + std::to_string(opts.vocab_size) + " is below the " +
         std::to_string(n_special + 256) + " special and byte tokens");
  // Token strings: specials, then the 256 byte-level characters, then merges.
  std::vector<std::string> tokens(opts.special_tokens);
  std::unordered_map<std::string, int32_t> id_of;
  for (int32_t i = 0; i < n_special; i++)
    if (!id_of.emplace(tokens[size_t(i)], i).second) fail("BPE trainer: duplicate special token " + tokens[size_t(i)]);
  for (int b = 0; b < 256; b++) {
    std::string ch = bytes_to_unicode(std::string(1, char(b)));
    id_of.emplace(ch, int32_t(tokens.size()));
    tokens.push_back(ch);
  }

  // Words as symbol ids, sorted for a deterministic result.
  std::vector<std::pair<std::string, int64_t>> sorted(word_counts_.begin(), word_counts_.end());
  std::sort(sorted.begin(), sorted.end());
  std::vector<Word> words;
  words.reserve(sorted.size());
  for (auto& [w, c] : sorted) {
    Word word{{}, c};
    for (size_t i = 0; i < w.size();) {
      const size_t s = i;
      utf8_next(w, i);
      word.syms.push_back(id_of.at(w.substr(s, i - s)));
    }
    words.push_back(std::move(word));
  }

  // Pair counts, the words holding each pair, and a max-heap with lazy updates.
  std::unordered_map<uint64_t, int64_t> pair_count;
  std::unordered_map<uint64_t, std::vector<uint32_t>> where;
  for (uint32_t wi = 0; wi < words.size(); wi++) {
    const auto& s = words[wi].syms;
    for (size_t i = 0; i + 1 < s.size(); i++) {
      pair_count[key(s[i], s[i + 1])] += words[wi].count;
      where[key(s[i], s[i + 1])].push_back(wi);
    }
  }
  using Entry = std::pair<int64_t, uint64_t>;  // count, pair; ties go to the smaller pair
  auto worse = [](const Entry& a, const Entry& b) { return a.first < b.first || (a.first == b.first && a.second > b.second); };
  std::priority_queue<Entry, std::vector<Entry>, decltype(worse)> heap(worse);
  for (auto& [k, c] : pair_count) heap.push({c, k});

  json merges = json::array();
  const int32_t target_merges = opts.vocab_size - int32_t(tokens.size());
  Progress progress("bpe merges", uint64_t(std::max(target_merges, 0)), "merges");
  while (int32_t(tokens.size()) < opts.vocab_size && !heap.empty()) {
    auto [count, k] = heap.top();
    heap.pop();
    auto it = pair_count.find(k);
    if (it == pair_count.end() || it->second != count) continue;  // stale entry
    if (count < opts.min_frequency) break;
    const auto a = int32_t(k >> 32), b = int32_t(k & 0xFFFFFFFFu);
    const int32_t merged = int32_t(tokens.size());
    tokens.push_back(tokens[size_t(a)] + tokens[size_t(b)]);
    merges.push_back({tokens[size_t(a)], tokens[size_t(b)]});

    std::vector<uint32_t> affected = std::move(where[k]);
    where.erase(k);
    std::sort(affected.begin(), affected.end());
    affected.erase(std::unique(affected.begin(), affected.end()), affected.end());
    std::unordered_map<uint64_t, int64_t> delta;
    for (uint32_t wi : affected) {
      Word& w = words[wi];
      auto& s = w.syms;
      bool hit = false;
      for (size_t i = 0; i + 1 < s.size(); i++) hit |= s[i] == a && s[i + 1] == b;
      if (!hit) continue;
      for (size_t i = 0; i + 1 < s.size(); i++) delta[key(s[i], s[i + 1])] -= w.count;
      std::vector<int32_t> out;
      for (size_t i = 0; i < s.size(); i++) {
        if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
          out.push_back(merged);
          i++;
        } else {
          out.push_back(s[i]);
        }
      }
      s = std::move(out);
      for (size_t i = 0; i + 1 < s.size(); i++) {
        delta[key(s[i], s[i + 1])] += w.count;
        if (s[i] == merged || s[i + 1] == merged) where[key(s[i], s[i + 1])].push_back(wi);
      }
    }
    for (auto& [pk, d] : delta) {
      if (d == 0) continue;
      int64_t& c = pair_count[pk];
      c += d;
      if (c <= 0) pair_count.erase(pk);
      else heap.push({c, pk});
    }
    pair_count.erase(k);
    progress.add();
  }
  progress.finish();

  json vocab = json::object();
  for (size_t i = 0; i < tokens.size(); i++) vocab[tokens[i]] = i;
  json added = json::array();
  for (int32_t i = 0; i < n_special; i++)
    added.push_back({{"id", i}, {"content", tokens[size_t(i)]}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", true}});
  json post = nullptr;
  if (n_special > 0) {
    const std::string& bos = tokens[0];
    json tok = {{"SpecialToken", {{"id", bos}, {"type_id", 0}}}};
    post = {{"type", "TemplateProcessing"},
            {"single", {tok, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
            {"pair", {tok, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}, tok, {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
            {"special_tokens", {{bos, {{"id", bos}, {"ids", {0}}, {"tokens", {bos}}}}}}};
  }
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", added},
          {"normalizer", nullptr},
          {"pre_tokenizer",
           {{"type", "Sequence"},
            {"pretokenizers",
             {{{"type", "Split"}, {"pattern", {{"Regex", kSplitPattern}}}, {"behavior", "Isolated"}, {"invert", false}},
              {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}}}}},
          {"post_processor", post},
          {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", nullptr},
            {"continuing_subword_prefix", nullptr},
            {"end_of_word_suffix", nullptr},
            {"fuse_unk", false},
            {"byte_fallback", false},
            {"ignore_merges", false},
            {"vocab", vocab},
            {"merges", merges}}}};
}

void train_bpe_tokenizer(const std::vector<std::filesystem::path>& inputs, const BpeTrainerOptions& opts,
                         const std::filesystem::path& out) {
  BpeTrainer trainer;
  for (const auto& in : inputs) {
    LineReader r(in.string());
    Progress progress("reading " + in.filename().string(), 0, "lines");
    std::string_view line;
    while (r.next(line)) {
      std::string text(line);
      text += '\n';  // keep line breaks: the model sees them too
      if (size_t bad = utf8_invalid_at(text); bad != std::string::npos)
        fail(at_line(in.string(), r.line_number(), "not valid UTF-8 at column " + std::to_string(bad + 1)));
      trainer.add_text(text);
      progress.add();
    }
  }
  if (trainer.words_seen() == 0) fail("BPE trainer: the corpus is empty");
  write_file_atomic(out, trainer.train(opts).dump(1));
  write_file_atomic(out.parent_path() / "tokenizer_config.json", BpeTrainer::tokenizer_config(opts).dump(2) + "\n");
}

nlohmann::json BpeTrainer::tokenizer_config(const BpeTrainerOptions& opts) {
  nlohmann::json j = {{"tokenizer_class", "PreTrainedTokenizerFast"}};
  if (!opts.special_tokens.empty()) j["bos_token"] = opts.special_tokens[0];
  if (opts.special_tokens.size() > 1) j["eos_token"] = opts.special_tokens[1];
  if (opts.special_tokens.size() > 2) j["pad_token"] = opts.special_tokens[2];
  return j;
}

}  // namespace userllm::llm
