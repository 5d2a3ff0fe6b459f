#include "eval/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <random>
#include <string>

#include "common/error.h"
#include "common/progress.h"
#include "eval/beam_search.h"
#include "eval/candidates.h"
#include "eval/metrics.h"
#include "eval/request.h"
#include "eval/title_trie.h"
#include "tasks/text_history.h"
#include "tasks/tokenize.h"

namespace userllm::eval {

namespace {

using bridge::IntegrationKind;
using Values = std::map<std::string, std::vector<double>>;  // metric -> one value per example

// Evaluation runs in eval mode without gradients; a model that was training goes back to it.
class EvalMode {
 public:
  explicit EvalMode(bridge::UserLlm m) : m_(std::move(m)), was_training_(m_->is_training()) { m_->eval(); }
  ~EvalMode() {
    if (was_training_) m_->train();
  }

 private:
  bridge::UserLlm m_;
  bool was_training_;
};

// The first max_examples of a seeded shuffle (Fisher-Yates with a modulo, so
// the same seed picks the same examples on every platform), in dataset order.
std::vector<size_t> pick_examples(size_t n, int64_t max_examples, uint64_t seed) {
  std::vector<size_t> idx(n);
  std::iota(idx.begin(), idx.end(), size_t(0));
  if (max_examples <= 0 || size_t(max_examples) >= n) return idx;
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < size_t(max_examples); ++i) std::swap(idx[i], idx[i + size_t(rng() % (n - i))]);
  idx.resize(size_t(max_examples));
  std::sort(idx.begin(), idx.end());
  return idx;
}

size_t longest(const TitleTrie& trie) {
  size_t n = 1;
  for (const auto& [item, seq] : trie.sequences()) n = std::max(n, seq.size());
  return n;
}

// Ranked ids from beams. Items that share a title are indistinguishable to the
// LLM, so a title counts as a hit for each item it names.
std::vector<int64_t> ranked_items(const std::vector<ScoredItem>& beams, int64_t gold) {
  std::vector<int64_t> out;
  for (const auto& b : beams)
    out.push_back(std::find(b.items.begin(), b.items.end(), gold) != b.items.end() ? gold : b.items.at(0));
  return out;
}

// The genre names as a trie (PAD and OOV left out), each spelled as an answer.
TitleTrie genre_trie(const data::Dataset& ds, const llm::Tokenizer& tok) {
  int gf = ds.field_index(ds.genre_field());
  if (gf < 0) fail("the favourite-genre task needs the dataset's \"" + ds.genre_field() + "\" field");
  TitleTrie trie;
  for (uint32_t g = 2; g < ds.fields()[size_t(gf)].vocab_size; ++g) trie.insert(tasks::answer_ids(tok, ds.token(gf, g)), g);
  return trie;
}

// The items of the history the model reads: negatives are never among them
// (LLaRA / A-LLMRec sample items the user has not interacted with; we use the
// history shown to the model, so small catalogues keep enough candidates).
std::vector<uint32_t> history_items(const data::Dataset& ds, const tasks::Example& ex) {
  const uint32_t* items = ds.column(ds.field_index("item"));
  return std::vector<uint32_t>(items + ex.begin, items + ex.end);
}

// Negatives depend on the seed and the target event only, so an example gets
// the same ones whichever subset of examples is evaluated.
uint64_t negative_seed(uint64_t seed, uint64_t target) { return seed ^ (0x9E3779B97F4A7C15ull * (target + 1)); }

std::vector<int64_t> cut(std::vector<int64_t> v, int64_t n) {
  if (int64_t(v.size()) > n) v.resize(size_t(n));
  return v;
}

struct TaskRunner {
  bridge::UserLlm& model;
  const data::Dataset& ds;
  const llm::Tokenizer& tok;
  tasks::TaskKind task;
  const EvaluateOptions& opts;
  const data::GroundTruth* gt;
  TitleTrie trie;       // catalogue titles (next item) or genre names
  int64_t needed = 0;   // tokens that may follow the prompt

  void init() {
    if (task == tasks::TaskKind::kNextItem) trie = build_title_trie(ds, tok);
    if (task == tasks::TaskKind::kFavoriteGenre) trie = genre_trie(ds, tok);
    needed = task == tasks::TaskKind::kReview ? opts.max_new_tokens : int64_t(longest(trie));
  }

  std::string title(int64_t item) const { return std::string(ds.item_title(uint32_t(item))); }

  // rec: the example's prediction record (EvaluateOptions::predictions), or null.
  void run(const tasks::Example& ex, const tasks::EncodedExample& enc, const UserSide& u, Values& v,
           nlohmann::json* rec) {
    const int64_t room = model->llm->config().context_length() - prefill_positions(model, enc, u);
    const int64_t extra = std::min(needed, room);  // encode_example left room for one answer token at least
    LlamaPrefix prefix = read_prompt(model, enc, u, extra);
    BeamOptions bo;
    bo.beam = opts.beam;
    bo.max_steps = int(extra);
    switch (task) {
      case tasks::TaskKind::kNextItem: {
        const int64_t gold = ex.item;
        auto ranked = ranked_items(constrained_beam_search(prefix, trie, bo), gold);
        for (int k : {1, 5, 10}) v["recall@" + std::to_string(k)].push_back(hit_at_k(ranked, gold, k));
        if (rec) {
          (*rec)["target"] = title(gold);
          (*rec)["prediction"] = nlohmann::json::array();
          for (size_t k = 0; k < ranked.size() && k < 10; ++k) (*rec)["prediction"].push_back(title(ranked[k]));
        }
        auto negatives = sample_negatives(ds.num_items(), ex.item, opts.candidates - 1,
                                          negative_seed(opts.seed, ex.target), history_items(ds, ex));
        std::vector<int64_t> items{gold};
        items.insert(items.end(), negatives.begin(), negatives.end());
        std::vector<std::vector<int64_t>> titles;
        for (int64_t i : items) titles.push_back(cut(tasks::answer_ids(tok, ds.item_title(uint32_t(i))), extra));
        auto r = score_candidates(prefix, items, titles);
        v["hit_ratio@1_of_" + std::to_string(opts.candidates)].push_back(r.hit_at_1() ? 1.0 : 0.0);
        break;
      }
      case tasks::TaskKind::kFavoriteGenre: {
        bo.top_k = 1;
        auto best = constrained_beam_search(prefix, trie, bo);
        // Genres sharing a name are indistinguishable: the name counts for each of them.
        auto predicts = [&](uint32_t g) {
          return !best.empty() && std::count(best[0].items.begin(), best[0].items.end(), int64_t(g)) > 0 ? 1.0 : 0.0;
        };
        v["accuracy"].push_back(predicts(ex.genre));
        if (rec) {
          (*rec)["target"] = ex.answer;
          const int gf = ds.field_index(ds.genre_field());
          (*rec)["prediction"] = best.empty() || best[0].items.empty()
                                     ? nlohmann::json()
                                     : nlohmann::json(std::string(ds.token(gf, uint32_t(best[0].items[0]))));
        }
        std::optional<uint32_t> truth = ex.true_genre;
        if (!truth && gt && ex.user < gt->favorite_genre_now.size()) truth = gt->favorite_genre_now[ex.user];
        if (truth) v["true_genre_accuracy"].push_back(predicts(*truth));
        break;
      }
      case tasks::TaskKind::kReview: {
        auto ids = greedy_decode(prefix, extra, tok.eos_id());
        std::string text = tok.decode(std::vector<int32_t>(ids.begin(), ids.end()));
        v["rouge_l_f1"].push_back(rouge_l_f1(text, ex.answer));
        if (rec) {
          (*rec)["target"] = ex.answer;
          (*rec)["prediction"] = text;
        }
        break;
      }
    }
  }
};

// Means over the evaluated requests, for the FLOPs shape and the reported cost.
struct CostTally {
  double prompt_tokens = 0, answer_tokens = 0, history_events = 0, history_tokens = 0, llm_input_tokens = 0;
  // The text prompt's whole history, uncut: what TP would read if the LLM's context held it.
  double full_history_events = 0, full_history_tokens = 0;
  void add(bridge::UserLlm& model, const data::Dataset& ds, const llm::Tokenizer& tok, const tasks::EncodedExample& e,
           const UserSide& u) {
    const bool text = model->options().integration == IntegrationKind::kText;
    if (text) {
      const uint64_t events = e.history_end - e.history_begin;
      full_history_events += double(events);
      // When the whole history fit, encode_example has counted its tokens already.
      full_history_tokens += uint64_t(e.history_text_events) == events
                                 ? double(e.history_text_tokens)
                                 : double(tasks::render_history(ds, e.history_begin, e.history_end, tok,
                                                                std::numeric_limits<int64_t>::max())
                                              .tokens);
    }
    prompt_tokens += double(e.prompt.size()) - double(e.history_text_tokens);
    answer_tokens += double(e.answer.size());
    history_events += text ? double(e.history_text_events) : double(u.events);
    history_tokens += double(e.history_text_tokens);
    llm_input_tokens += double(e.prompt.size());
    if (model->options().integration == IntegrationKind::kSoftPrompt) llm_input_tokens += u.mask.sum().item<double>();
  }
  void divide(double n) {
    for (double* x : {&prompt_tokens, &answer_tokens, &history_events, &history_tokens, &llm_input_tokens,
                      &full_history_events, &full_history_tokens})
      *x /= n;
  }
};

Integration integration_of(IntegrationKind k) {
  switch (k) {
    case IntegrationKind::kText: return Integration::kTextPrompt;
    case IntegrationKind::kSoftPrompt: return Integration::kSoftPrompt;
    case IntegrationKind::kCrossAttention: return Integration::kCrossAttention;
  }
  fail("unknown integration");
}

// Mean wall time of `n` requests at batch 1 after one warm-up: user side,
// prefill, and `answer` greedy decoding passes (no early stop), as request_flops counts them.
double latency_ms(bridge::UserLlm& model, const encoder::Events* ev, const std::vector<tasks::EncodedExample>& encoded,
                  int64_t answer, int64_t n) {
  auto request = [&](const tasks::EncodedExample& e) {
    UserSide u = user_side(model, ev, e);
    const int64_t room = model->llm->config().context_length() - prefill_positions(model, e, u);
    const int64_t decode = std::min(answer, room);
    LlamaPrefix p = read_prompt(model, e, u, std::max<int64_t>(decode, 1));
    greedy_decode(p, decode + 1, -1);
  };
  request(encoded[0]);
  auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < n; ++i) request(encoded[size_t(i) % encoded.size()]);
  std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
  return took.count() / double(n);
}

}  // namespace

UserLlmShape shape_of(bridge::UserLlm& model) {
  UserLlmShape s;
  s.llm = model->llm->config();
  if (model->encoder) s.encoder = EncoderShape::from_options(model->encoder->options());
  if (model->perceiver) {
    const auto& o = model->perceiver->options();
    s.use_perceiver = true;
    s.perceiver = PerceiverShape{o.dim(), o.context_dim(), o.latents(), o.blocks(), o.ff_mult()};
  }
  if (model->projector) {
    const auto& o = model->projector->options();
    s.projector = ProjectorShape{o.in_dim(), o.out_dim(), o.mlp(), o.hidden()};
  }
  if (model->cross) {
    const auto& o = model->cross->options();
    s.cross.blocks = int64_t(model->cross->layers().size());
    s.cross.context_dim = o.context_dim();
    s.cross.ff_mult = o.ff_mult();
  }
  return s;
}

nlohmann::json evaluate(bridge::UserLlm& model, const data::Dataset& ds, const encoder::Events* ev,
                        const llm::Tokenizer& tok, tasks::TaskKind task, const std::vector<tasks::Example>& examples,
                        const tasks::PromptOptions& prompt, const EvaluateOptions& opts, const data::GroundTruth* gt) {
  if (opts.beam < 1 || opts.candidates < 2 || opts.max_new_tokens < 1 || opts.latency_requests < 1)
    fail("evaluate: beam, max_new_tokens and latency_requests must be positive and candidates at least 2");
  const auto picked = pick_examples(examples.size(), opts.max_examples, opts.seed);
  if (picked.empty()) fail(std::string("evaluate: no ") + tasks::task_name(task) + " examples in this split");
  EvalMode mode(model);
  torch::NoGradGuard ng;

  TaskRunner runner{model, ds, tok, task, opts, gt, {}, 0};
  runner.init();
  Values values;
  CostTally tally;
  std::vector<tasks::EncodedExample> encoded;
  Progress bar(std::string("evaluate ") + tasks::task_name(task), picked.size(), "examples");
  for (size_t i : picked) {
    encoded.push_back(tasks::encode_example(ds, tok, examples[i], prompt));
    UserSide u = user_side(model, ev, encoded.back());
    tally.add(model, ds, tok, encoded.back(), u);
    if (!opts.predictions) {
      runner.run(examples[i], encoded.back(), u, values, nullptr);
      bar.add();
      continue;
    }
    std::map<std::string, size_t> before;
    for (const auto& [name, v] : values) before[name] = v.size();
    const auto& e = encoded.back();
    nlohmann::json rec = {{"user", std::string(ds.user_key(examples[i].user))},
                          {"input", tok.decode(std::vector<int32_t>(e.prompt.begin(), e.prompt.end()))},
                          {"history_events", model->options().integration == IntegrationKind::kText
                                                 ? int64_t(e.history_text_events)
                                                 : int64_t(u.events)}};
    runner.run(examples[i], e, u, values, &rec);
    rec["score"] = nlohmann::json::object();
    for (const auto& [name, v] : values)
      if (v.size() > before[name]) rec["score"][name] = v.back();
    opts.predictions->push_back(std::move(rec));
    bar.add();
  }
  bar.finish();
  tally.divide(double(picked.size()));

  nlohmann::json out{{"task", tasks::task_name(task)}, {"examples", picked.size()}};
  out["metrics"] = nlohmann::json::object();
  out["metrics_std_error"] = nlohmann::json::object();
  for (const auto& [name, v] : values) {
    MeanStat m = mean_stat(v);
    out["metrics"][name] = m.mean;
    out["metrics_std_error"][name] = m.std_error;
  }

  RequestShape r;
  r.prompt_tokens = std::max<int64_t>(1, std::llround(tally.prompt_tokens));
  r.answer_tokens = std::llround(tally.answer_tokens);
  r.history_events = std::llround(tally.history_events);
  r.history_tokens = std::llround(tally.history_tokens);
  FlopsBreakdown f = request_flops(integration_of(model->options().integration), shape_of(model), r);
  out["cost"] = {
      {"flops_per_request", f.total()},
      {"llm_flops_per_request", f.llm_prefill + f.llm_decode + f.cross_attention},
      {"flops",
       {{"encoder", f.encoder},
        {"perceiver", f.perceiver},
        {"projector", f.projector},
        {"cross_attention", f.cross_attention},
        {"llm_prefill", f.llm_prefill},
        {"llm_decode", f.llm_decode}}},
      {"latency_ms", latency_ms(model, ev, encoded, r.answer_tokens, opts.latency_requests)},
      {"llm_input_tokens", tally.llm_input_tokens},
      {"history_events", tally.history_events},
  };
  if (model->options().integration == IntegrationKind::kText) {
    RequestShape full = r;
    full.history_events = std::llround(tally.full_history_events);
    full.history_tokens = std::llround(tally.full_history_tokens);
    const FlopsBreakdown g = request_flops(Integration::kTextPrompt, shape_of(model), full);
    out["cost"]["full_history"] = {{"history_events", tally.full_history_events},
                                   {"history_tokens", tally.full_history_tokens},
                                   {"llm_flops_per_request", g.llm_prefill + g.llm_decode}};
  }
  return out;
}

}  // namespace userllm::eval
