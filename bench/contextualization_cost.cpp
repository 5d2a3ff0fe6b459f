// Cost per request of giving an LLM the user's history (issue 6): the text
// prompt baseline (TP: the history written out as text) against User-LLM's
// cross-attention and soft prompt, each without and with a Perceiver, at
// several history lengths. For each: analytic FLOPs (eval/flops.h) and the
// measured latency of user side + prefill + greedy decoding with a KV cache,
// batch 1, as ratios against TP measured in the same run.
//
// The LLM is a random-weight ~100M Llama (cost does not depend on weights).
// TP's length comes from a real rendering: tasks::event_text_line over the
// MovieLens history in ../shared (synthetic data when absent), tokenised by a
// BPE tokenizer trained on that dataset's corpus (or --tokenizer). A TP prompt
// longer than the LLM's context is cut to the context (losing old events), as
// a real deployment must; the uncapped cost is reported beside it (FLOPs only).
//
//   build-*/bench/contextualization_cost [--quick] [--lengths 50,200,1000,5000]
//       [--context 8192] [--reps 3] [--threads 1] [--chunk 1024] [--tokenizer FILE] [--json FILE]
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "blas_info.h"
#include "llm_100m.h"
#include "bridge/gated_cross_attention.h"
#include "bridge/perceiver.h"
#include "bridge/projector.h"
#include "bridge/soft_prompt.h"
#include "common/atomic_file.h"
#include "common/error.h"
#include "common/progress.h"
#include "data/corpus.h"
#include "data/dataset.h"
#include "data/log_builder.h"
#include "data/readers.h"
#include "data/synth.h"
#include "encoder/batch.h"
#include "encoder/events.h"
#include "encoder/user_encoder.h"
#include "eval/flops.h"
#include "llm/bpe_trainer.h"
#include "llm/llama.h"
#include "llm/tokenizer.h"
#include "tasks/text_history.h"

namespace fs = std::filesystem;
using namespace userllm;
using Clock = std::chrono::steady_clock;
using eval::Integration;

namespace {

constexpr int64_t kAnswerTokens = 8;  // greedy decoding passes after the prefill
constexpr int64_t kEncoderDim = 64, kCrossEvery = 4;
// A recommendation-style instruction of about 20 tokens.
constexpr const char* kInstruction =
    "Which movie will this user watch next? Title:";

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }
// CPU time of the whole process (every thread): on a shared machine the wall
// clock includes waiting for a core, this does not.
double cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return 1e3 * double(ts.tv_sec) + 1e-6 * double(ts.tv_nsec);
}

struct Args {
  std::vector<int64_t> lengths{50, 200, 1000, 5000};
  int64_t context = 8192, reps = 3, chunk = 1024;
  int threads = 1;  // the machine is shared: one thread gives stable, comparable timings
  double rep_budget_s = 20;  // stop repeating a configuration once its runs took this long
  bool quick = false;
  std::string tokenizer, json;
};

// Removes the scratch directory on every exit path.
struct ScratchDir {
  fs::path path;
  ScratchDir() : path(fs::temp_directory_path() / ("userllm-ctxcost-" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// The real data behind the request: a prepared dataset, a tokenizer, how many
// tokens an event takes as text, and real token ids / event rows to fill
// histories of any length (the longest user's, repeated).
struct Workload {
  std::string data_source, tokenizer_source;
  double tokens_per_event = 0;
  int64_t users = 0, events = 0, tokens = 0;
  std::vector<int64_t> history_ids;   // the longest user's history as text, tokenised
  std::vector<int64_t> prompt_ids;    // BOS + instruction
  std::vector<uint32_t> event_rows;   // the longest user's events, num_fields per event
  int num_fields = 0;
  encoder::EncoderOptions encoder;

  int64_t history_tokens(int64_t events) const { return std::llround(double(events) * tokens_per_event); }
  // [1, L, F] long and [1, L] bool: the longest user's events, cycled to L.
  std::pair<torch::Tensor, torch::Tensor> history(int64_t L) const {
    const int64_t n = int64_t(event_rows.size()) / num_fields;
    auto tokens = torch::empty({1, L, num_fields}, torch::kLong);
    auto* p = tokens.data_ptr<int64_t>();
    for (int64_t t = 0; t < L; ++t)
      for (int f = 0; f < num_fields; ++f) p[t * num_fields + f] = event_rows[size_t((t % n) * num_fields + f)];
    return {tokens, torch::ones({1, L}, torch::kBool)};
  }
};

fs::path prepare_dataset(const fs::path& scratch, std::string& source) {
  const fs::path ml = fs::path(USERLLM_SHARED_DIR) / "data" / "movielens-latest-small";
  const fs::path out = scratch / "data";
  if (fs::exists(ml / "ratings.csv")) {
    data::LogBuilder builder("movielens", "genre");
    data::read_movielens(ml, builder, {});
    builder.finish({}, out);
    source = "MovieLens latest-small (" + fs::weakly_canonical(ml).string() + ")";
  } else {
    data::write_synthetic_dataset({}, out);
    source = "synthetic default data (../shared MovieLens absent)";
  }
  return out;
}

Workload load_workload(const Args& a, const fs::path& scratch, int64_t llm_vocab) {
  Workload w;
  const auto ds = data::Dataset::open(prepare_dataset(scratch, w.data_source));
  std::unique_ptr<llm::Tokenizer> tok;
  if (!a.tokenizer.empty()) {
    tok = llm::load_tokenizer(a.tokenizer);
    w.tokenizer_source = a.tokenizer;
  } else {
    const auto corpus = scratch / "corpus.txt";
    data::write_corpus(ds, corpus);
    llm::BpeTrainerOptions opts;
    opts.vocab_size = int32_t(llm_vocab);
    llm::train_bpe_tokenizer({corpus}, opts, scratch / "tokenizer.json");
    tok = llm::load_tokenizer(scratch / "tokenizer.json");
    w.tokenizer_source = "byte-level BPE trained on the dataset's corpus (target vocab " + std::to_string(llm_vocab) + ")";
  }
  if (tok->vocab_size() > llm_vocab)
    fail("tokenizer " + w.tokenizer_source + ": vocabulary " + std::to_string(tok->vocab_size()) +
         " exceeds the bench LLM's " + std::to_string(llm_vocab));
  w.tokenizer_source += ", vocab " + std::to_string(tok->vocab_size());

  // Tokens per event over every user's whole history, rendered as TP renders it.
  uint32_t longest = 0;
  {
    Progress progress("rendering histories", ds.num_users(), "users");
    for (uint32_t u = 0; u < ds.num_users(); ++u) {
      auto r = tasks::render_history(ds, ds.user_begin(u), ds.user_end(u), *tok, INT64_MAX);
      w.events += r.kept;
      w.tokens += r.tokens;
      if (ds.user_end(u) - ds.user_begin(u) > ds.user_end(longest) - ds.user_begin(longest)) longest = u;
      progress.add();
    }
  }
  w.users = ds.num_users();
  if (w.events == 0) fail("dataset " + w.data_source + " has no events");
  w.tokens_per_event = double(w.tokens) / double(w.events);
  auto r = tasks::render_history(ds, ds.user_begin(longest), ds.user_end(longest), *tok, INT64_MAX);
  for (int32_t id : tok->encode(r.text, false, false)) w.history_ids.push_back(id);
  for (int32_t id : tok->encode(kInstruction, true, false)) w.prompt_ids.push_back(id);

  const auto ev = encoder::events_from(ds, true);
  w.num_fields = ev.num_fields();
  w.event_rows.assign(ev.event(ev.offsets[longest]), ev.event(ev.offsets[longest + 1]));
  w.encoder.fields = encoder::fields_for(ev, int(kEncoderDim), 16);
  w.encoder.dim = int(kEncoderDim);
  w.encoder.validate();
  return w;
}

// One way of giving the LLM the history.
struct Method {
  Integration kind;
  int64_t latents;  // Perceiver K; 0 = none
};

const char* kind_name(Integration k) {
  switch (k) {
    case Integration::kTextPrompt: return "text";
    case Integration::kSoftPrompt: return "soft-prompt";
    case Integration::kCrossAttention: return "cross-attention";
  }
  return "?";
}

struct Models {
  llm::LlamaConfig config;
  llm::LlamaForCausalLM llm{nullptr};
  encoder::UserEncoder encoder{nullptr};
  std::map<int64_t, bridge::Perceiver> perceivers;
  bridge::Projector projector{nullptr};
  bridge::CrossAttentionStack cross{nullptr};
  std::vector<int64_t> cross_layers;

  eval::UserLlmShape shape(int64_t latents) const {
    eval::UserLlmShape s;
    s.llm = config;
    s.encoder = eval::EncoderShape::from_options(encoder->options());
    s.use_perceiver = latents > 0;
    s.perceiver = {kEncoderDim, kEncoderDim, latents, 2, 2};
    s.projector = {kEncoderDim, config.hidden_size, true, 0};
    s.cross = {int64_t(cross_layers.size()), config.hidden_size, 2};
    return s;
  }
};

Models build_models(const Workload& w, int64_t context) {
  Models m;
  auto& c = m.config;  // the lm_generate bench's ~100M Llama, with a long context
  c = bench::llm_100m_config(context);
  c.validate("bench LLM");
  torch::manual_seed(0);
  m.llm = llm::LlamaForCausalLM(c);
  m.encoder = encoder::UserEncoder(w.encoder);
  for (int64_t k : {16, 32}) {
    bridge::PerceiverOptions po(kEncoderDim, kEncoderDim, k);
    m.perceivers.emplace(k, bridge::Perceiver(po));
  }
  m.projector = bridge::Projector(bridge::ProjectorOptions(kEncoderDim, c.hidden_size).mlp(true));
  m.cross_layers = bridge::every_kth_layer(c.num_layers, kCrossEvery);
  m.cross = bridge::CrossAttentionStack(bridge::GatedCrossAttentionOptions(c.hidden_size, c.hidden_size, 4), m.cross_layers);
  m.llm->eval();
  m.encoder->eval();
  for (auto& [k, p] : m.perceivers) p->eval();
  m.projector->eval();
  m.cross->eval();
  return m;
}

struct Timing {
  double user_ms = 0, prefill_ms = 0, decode_ms = 0;  // wall clock
  double cpu_ms = 0;                                  // CPU time of the whole request
  double total() const { return user_ms + prefill_ms + decode_ms; }
};

// One request: `events` history events (user side), or `history_tokens` of
// text for TP. Prefill runs in chunks through the KV cache (the same FLOPs as
// one pass; bounded attention memory), then kAnswerTokens greedy passes.
Timing run_request(Models& m, const Workload& w, const Method& method, int64_t events, int64_t history_tokens,
                   int64_t chunk) {
  torch::NoGradGuard no_grad;
  auto& model = *m.llm;
  Timing t;
  const double cpu_start = cpu_ms();
  auto start = Clock::now();
  torch::Tensor context;
  if (method.kind != Integration::kTextPrompt) {
    auto [tokens, valid] = w.history(events);
    auto h = m.encoder->forward(tokens, valid);
    if (method.latents) h = m.perceivers.at(method.latents)->forward(h);
    context = m.projector->forward(h);
  }
  t.user_ms = ms_since(start);

  start = Clock::now();
  std::vector<int64_t> ids{w.prompt_ids[0]};  // BOS, [history], instruction
  for (int64_t i = 0; i < history_tokens; ++i) ids.push_back(w.history_ids[size_t(i) % w.history_ids.size()]);
  ids.insert(ids.end(), w.prompt_ids.begin() + 1, w.prompt_ids.end());
  auto embeds = model.embed(torch::tensor(ids).unsqueeze(0));
  if (method.kind == Integration::kSoftPrompt) embeds = bridge::pack_soft_prompt(context, {}, embeds, {}).embeds;
  if (method.kind == Integration::kCrossAttention) {
    m.cross->attach(model);
    m.cross->set_context(context);
  } else {
    model.set_layer_hook(nullptr);
  }
  const int64_t T = embeds.size(1);
  llm::KVCache cache(m.config, 1, T + kAnswerTokens, torch::kCPU);
  torch::Tensor h;
  for (int64_t s = 0; s < T; s += chunk) h = model.hidden_states(embeds.narrow(1, s, std::min(chunk, T - s)), &cache);
  auto next = model.logits(h.narrow(1, h.size(1) - 1, 1)).argmax(-1);  // [1, 1]
  t.prefill_ms = ms_since(start);

  start = Clock::now();
  for (int64_t j = 0; j < kAnswerTokens; ++j)
    next = model.logits(model.hidden_states(model.embed(next), &cache)).argmax(-1);
  t.decode_ms = ms_since(start);
  t.cpu_ms = cpu_ms() - cpu_start;
  model.set_layer_hook(nullptr);
  return t;
}

struct Row {
  int64_t history = 0;
  std::string integration;
  Method method{Integration::kTextPrompt, 0};
  int64_t events_seen = 0, llm_input_tokens = 0, user_vectors = 0;
  eval::FlopsBreakdown flops;
  std::optional<Timing> timing;  // absent: not run (uncapped TP beyond the context)
  int reps = 0;
  std::string note;
  int64_t llm_flops() const { return flops.llm_prefill + flops.llm_decode + flops.cross_attention; }
};

std::string fmt_flops(double f) {
  char b[32];
  if (f >= 1e12) std::snprintf(b, sizeof b, "%.2fT", f / 1e12);
  else if (f >= 1e9) std::snprintf(b, sizeof b, "%.2fG", f / 1e9);
  else std::snprintf(b, sizeof b, "%.1fM", f / 1e6);
  return b;
}

std::string fmt_ratio(double r) {
  char b[32];
  std::snprintf(b, sizeof b, r >= 100 ? "%.0fx" : r >= 10 ? "%.1fx" : "%.2fx", r);
  return b;
}

void print_table(const std::vector<Row>& rows, const Row& tp, const Row& tp_full) {
  std::printf("%-16s %4s %7s %6s %9s %9s %8s %9s %8s %10s %10s %4s %10s %8s %8s %10s\n", "integration", "K",
              "LLM in", "vecs", "FLOPs", "LLM FLOPs", "user ms", "prefill", "decode", "latency ms", "CPU ms", "reps",
              "FLOPs TP/x", "lat TP/x", "CPU TP/x", "full TP/x");
  for (const auto& r : rows) {
    std::string lat = "-", user = "-", pre = "-", dec = "-", cpu = "-", lat_ratio = "-", cpu_ratio = "-";
    char b[32];
    if (r.timing) {
      std::snprintf(b, sizeof b, "%.1f", r.timing->total()), lat = b;
      std::snprintf(b, sizeof b, "%.1f", r.timing->user_ms), user = b;
      std::snprintf(b, sizeof b, "%.1f", r.timing->prefill_ms), pre = b;
      std::snprintf(b, sizeof b, "%.1f", r.timing->decode_ms), dec = b;
      std::snprintf(b, sizeof b, "%.1f", r.timing->cpu_ms), cpu = b;
      lat_ratio = fmt_ratio(tp.timing->total() / r.timing->total());
      cpu_ratio = fmt_ratio(tp.timing->cpu_ms / r.timing->cpu_ms);
    }
    std::printf("%-16s %4s %7lld %6lld %9s %9s %8s %9s %8s %10s %10s %4d %10s %8s %8s %10s%s\n", r.integration.c_str(),
                r.method.latents ? std::to_string(r.method.latents).c_str() : "-", (long long)r.llm_input_tokens,
                (long long)r.user_vectors, fmt_flops(double(r.flops.total())).c_str(),
                fmt_flops(double(r.llm_flops())).c_str(), user.c_str(), pre.c_str(), dec.c_str(), lat.c_str(), cpu.c_str(),
                r.reps, fmt_ratio(double(tp.flops.total()) / double(r.flops.total())).c_str(), lat_ratio.c_str(),
                cpu_ratio.c_str(),
                fmt_ratio(double(tp_full.flops.total()) / double(r.flops.total())).c_str(),
                r.note.empty() ? "" : ("  " + r.note).c_str());
  }
}

nlohmann::json row_json(const Row& r, const Row& tp, const Row& tp_full) {
  nlohmann::json j = {{"history", r.history},
                      {"integration", r.integration},
                      {"perceiver", r.method.latents},
                      {"llm_input_tokens", r.llm_input_tokens},
                      {"user_vectors", r.user_vectors},
                      {"events_seen", r.events_seen},
                      {"flops", r.flops.total()},
                      {"llm_flops", r.llm_flops()},
                      {"flops_ratio_vs_tp", double(tp.flops.total()) / double(r.flops.total())},
                      {"flops_ratio_vs_full_tp", double(tp_full.flops.total()) / double(r.flops.total())},
                      {"reps", r.reps}};
  if (r.timing) {
    j["latency_ms"] = r.timing->total();
    j["latency_ratio_vs_tp"] = tp.timing->total() / r.timing->total();
    j["user_ms"] = r.timing->user_ms;
    j["prefill_ms"] = r.timing->prefill_ms;
    j["decode_ms"] = r.timing->decode_ms;
    j["cpu_ms"] = r.timing->cpu_ms;
    j["cpu_ratio_vs_tp"] = tp.timing->cpu_ms / r.timing->cpu_ms;
  } else {
    j["latency_ms"] = nullptr;
    j["latency_ratio_vs_tp"] = nullptr;
    j["cpu_ms"] = nullptr;
    j["cpu_ratio_vs_tp"] = nullptr;
  }
  return j;
}

std::vector<int64_t> parse_lengths(const std::string& s) {
  std::vector<int64_t> out;
  size_t p = 0;
  while (p <= s.size()) {
    size_t q = s.find(',', p);
    if (q == std::string::npos) q = s.size();
    std::string item = s.substr(p, q - p);
    char* end = nullptr;
    long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 1 || v > 1000000)
      fail("--lengths: \"" + item + "\" is not a history length in 1..1000000 (expected e.g. 50,200,1000,5000)");
    out.push_back(v);
    p = q + 1;
  }
  return out;
}

int run(const Args& a) {
  llm::set_threads(a.threads);
  bench::print_blas();
  ScratchDir scratch;
  const Workload w = load_workload(a, scratch.path, 32000);
  Models m = build_models(w, a.context);
  const int64_t P = int64_t(w.prompt_ids.size());
  const int64_t text_budget = a.context - P - kAnswerTokens;  // history tokens TP can hold
  if (text_budget < 1) fail("--context " + std::to_string(a.context) + " leaves no room for a history");

  std::printf("data: %s: %lld users, %lld events\n", w.data_source.c_str(), (long long)w.users, (long long)w.events);
  std::printf("tokenizer: %s\n", w.tokenizer_source.c_str());
  std::printf("TP text: %.2f tokens per event (%lld tokens over all users' rendered histories)\n", w.tokens_per_event,
              (long long)w.tokens);
  std::printf("LLM: random-weight Llama, %.1fM parameters, %lld layers x %lld, %lld heads (%lld kv), vocab %lld, "
              "context %lld\n",
              m.config.num_parameters() / 1e6, (long long)m.config.num_layers, (long long)m.config.hidden_size,
              (long long)m.config.num_heads, (long long)m.config.num_kv_heads, (long long)m.config.vocab_size,
              (long long)a.context);
  std::string layer_list;
  for (int64_t l : m.cross_layers) layer_list += " " + std::to_string(l);
  std::printf("encoder: %d layers, dim %d, %zu fields, window %d; Perceiver: %lld dims, 2 blocks; projector: MLP "
              "%lld -> %lld; cross-attention: %zu gated blocks, after every %lldth decoder layer (0-based:%s)\n",
              w.encoder.layers, w.encoder.dim, w.encoder.fields.size(), w.encoder.max_len, (long long)kEncoderDim,
              (long long)kEncoderDim, (long long)m.config.hidden_size, m.cross_layers.size(), (long long)kCrossEvery,
              layer_list.c_str());
  std::printf("request: prompt %lld tokens (BOS + instruction), %lld greedy decoding passes, batch 1; prefill chunk "
              "%lld; latency = median of up to %lld runs\n",
              (long long)P, (long long)kAnswerTokens, (long long)a.chunk, (long long)a.reps);

  const std::vector<Method> methods = {{Integration::kTextPrompt, 0},     {Integration::kCrossAttention, 0},
                                       {Integration::kCrossAttention, 16}, {Integration::kCrossAttention, 32},
                                       {Integration::kSoftPrompt, 0},      {Integration::kSoftPrompt, 16},
                                       {Integration::kSoftPrompt, 32}};
  // Warm-up: each path once on a short history, discarded.
  for (const auto& meth : methods) run_request(m, w, meth, 8, meth.kind == Integration::kTextPrompt ? 64 : 0, a.chunk);

  nlohmann::json out = nlohmann::json::array();
  std::map<int64_t, Row> tp_by_tokens;  // capped TP inputs repeat across lengths: measured once
  Progress progress("measuring", a.lengths.size() * methods.size(), "configurations");
  auto bench_start = Clock::now();
  for (int64_t L : a.lengths) {
    std::vector<Row> rows;
    Row tp_full;
    for (const auto& meth : methods) {
      Row r;
      r.history = L;
      r.method = meth;
      r.integration = kind_name(meth.kind);
      eval::RequestShape req{P, kAnswerTokens, L, 0};
      int64_t text_tokens = 0;
      if (meth.kind == Integration::kTextPrompt) {
        req.history_events = 0;
        req.history_tokens = w.history_tokens(L);
        tp_full = r;
        tp_full.integration = "text-uncapped";
        tp_full.llm_input_tokens = P + req.history_tokens;
        tp_full.events_seen = L;
        tp_full.flops = eval::request_flops(meth.kind, m.shape(0), req);
        text_tokens = std::min(req.history_tokens, text_budget);
        req.history_tokens = text_tokens;
        r.events_seen = std::min<int64_t>(L, int64_t(double(text_tokens) / w.tokens_per_event));
        r.llm_input_tokens = P + text_tokens;
        if (text_tokens < tp_full.llm_input_tokens - P)
          r.note = "capped at the context: keeps the last ~" + std::to_string(r.events_seen) + " events";
      } else {
        // A soft prompt without a Perceiver puts every event in the context too.
        const int64_t events = meth.kind == Integration::kSoftPrompt && !meth.latents ? std::min(L, text_budget) : L;
        if (events < L) r.note = "capped at the context: the last " + std::to_string(events) + " events";
        req.history_events = r.events_seen = events;
        r.user_vectors = meth.latents ? meth.latents : events;
        r.llm_input_tokens = P + (meth.kind == Integration::kSoftPrompt ? r.user_vectors : 0);
      }
      r.flops = eval::request_flops(meth.kind, m.shape(meth.latents), req);

      auto reused = meth.kind == Integration::kTextPrompt ? tp_by_tokens.find(text_tokens) : tp_by_tokens.end();
      if (reused != tp_by_tokens.end()) {
        r.timing = reused->second.timing;
        r.reps = reused->second.reps;
        r.note += " (same input as a shorter history: timing reused)";
      } else {
        std::vector<Timing> runs;
        auto start = Clock::now();
        while (int64_t(runs.size()) < a.reps && (runs.empty() || ms_since(start) < 1e3 * a.rep_budget_s))
          runs.push_back(run_request(m, w, meth, r.events_seen, text_tokens, a.chunk));
        std::sort(runs.begin(), runs.end(), [](const Timing& x, const Timing& y) { return x.total() < y.total(); });
        r.timing = runs[runs.size() / 2];
        r.reps = int(runs.size());
        if (meth.kind == Integration::kTextPrompt) tp_by_tokens[text_tokens] = r;
      }
      rows.push_back(r);
      progress.add();
    }
    const Row tp = rows.front();
    const bool capped = tp_full.llm_input_tokens > tp.llm_input_tokens;
    if (capped) rows.insert(rows.begin(), tp_full);
    progress.set_note(std::to_string(L) + " events done");

    std::printf("\n== history of %lld events: TP text %lld tokens (%.2f per event)%s\n", (long long)L,
                (long long)(tp_full.llm_input_tokens - P), w.tokens_per_event,
                capped ? ", more than the LLM's context: TP runs on the last part only" : "");
    print_table(rows, tp, tp_full);
    if (capped) {
      const double rate = double(tp.flops.total()) / (tp.timing->cpu_ms / 1e3);
      std::printf("uncapped TP: %s FLOPs; at the %.1f GFLOP per CPU second the capped TP ran at, ~%.0f CPU s per "
                  "request (estimate: it needs a %lld-token context)\n",
                  fmt_flops(double(tp_full.flops.total())).c_str(), rate / 1e9, double(tp_full.flops.total()) / rate,
                  (long long)(tp_full.llm_input_tokens + kAnswerTokens));
    }
    double best_full = 0;
    std::string best_name;
    for (const auto& r : rows) {
      double ratio = double(tp_full.flops.total()) / double(r.flops.total());
      if (ratio > best_full) best_full = ratio, best_name = r.integration + (r.method.latents ? " K=" + std::to_string(r.method.latents) : "");
      out.push_back(row_json(r, tp, tp_full));
    }
    std::printf("largest FLOPs reduction against the full-history TP: %s (%s); the paper reports up to 78.1x\n",
                fmt_ratio(best_full).c_str(), best_name.c_str());
    std::fflush(stdout);
  }
  progress.finish();
  std::printf("\nbench time %.0f s\n", ms_since(bench_start) / 1e3);
  if (!a.json.empty()) {
    write_file_atomic(a.json, out.dump(1) + "\n");
    std::printf("rows written to %s\n", a.json.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  std::string lengths;
  CLI::App app("Contextualization cost: FLOPs and latency per request of TP vs cross-attention vs soft prompt");
  app.add_flag("--quick", a.quick, "Histories 50 and 200, one run each (a smoke run)");
  app.add_option("--lengths", lengths, "Comma-separated history lengths in events (default 50,200,1000,5000)");
  app.add_option("--context", a.context, "LLM context (positions); a longer TP prompt is cut to fit")
      ->check(CLI::Range(int64_t(64), int64_t(1) << 20));
  app.add_option("--reps", a.reps, "Runs per configuration (median); slow ones stop early")->check(CLI::Range(1, 100));
  app.add_option("--threads", a.threads, "libtorch and OpenBLAS threads")->check(CLI::Range(1, 256));
  app.add_option("--chunk", a.chunk, "Prefill chunk in positions")->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  app.add_option("--tokenizer", a.tokenizer, "Tokenizer for the TP text (default: BPE trained on the data's corpus)");
  app.add_option("--json", a.json, "Write the rows as a JSON array to FILE (atomically)");
  CLI11_PARSE(app, argc, argv);
  try {
    if (a.quick) a.lengths = {50, 200}, a.reps = 1;
    if (!lengths.empty()) a.lengths = parse_lengths(lengths);
    return run(a);
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
