// eval::evaluate on a tiny synthetic setup: metrics are in range and
// consistent, rigged models give known answers, and the cost is what
// eval/flops.h gives for the request's shape.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "common/error.h"
#include "eval/evaluate.h"
#include "eval/beam_search.h"
#include "eval/metrics.h"
#include "eval/request.h"
#include "tasks/tokenize.h"
#include "test_util.h"
#include "train/fixture.h"

using namespace userllm;

namespace {

// One tiny dataset, encoder and tokenizer shared by every test here.
struct Shared {
  test::ScratchDir dir;
  test::TinySetup setup = test::make_tiny_setup(dir);
  data::Dataset ds = data::Dataset::open(setup.data);
  std::optional<data::GroundTruth> gt = data::read_ground_truth(ds, setup.data);
  encoder::Events ev = encoder::events_from(ds, true);
  std::unique_ptr<llm::Tokenizer> tok = llm::load_tokenizer(setup.llm);
};

std::unique_ptr<Shared> g_shared;
Shared& shared() {
  if (!g_shared) g_shared = std::make_unique<Shared>();
  return *g_shared;
}

llm::LlamaConfig llm_config() {
  llm::LlamaConfig c;
  c.vocab_size = shared().tok->vocab_size();
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.max_position_embeddings = 256;
  c.rms_norm_eps = 1e-5;
  c.tie_word_embeddings = false;
  return c;
}

bridge::UserLlm make_model(bridge::IntegrationKind kind, int64_t perceiver = 0) {
  torch::manual_seed(3);
  bridge::UserLlmOptions o;
  o.integration = kind;
  o.perceiver = perceiver;
  encoder::UserEncoder enc{nullptr};
  if (kind != bridge::IntegrationKind::kText) enc = encoder::load_encoder(shared().setup.encoder, torch::kCPU);
  return bridge::UserLlm(o, enc, llm::LlamaForCausalLM(llm_config()));
}

// Every logit 0 except `favoured` tokens, which get ~+500 whatever the input:
// column 0 of every token embedding dominates the residual stream, so the
// normalised hidden state's first coordinate is ~sqrt(D) > 0, and only the
// favoured rows of the output layer read it.
void rig(bridge::UserLlm& m, const std::vector<int64_t>& favoured) {
  torch::NoGradGuard ng;
  auto& llm = m->llm;
  llm->model->embed_tokens->weight.select(1, 0).fill_(1000.0);
  llm->model->norm->weight.fill_(1.0);
  llm->lm_head->weight.zero_();
  for (int64_t t : favoured) llm->lm_head->weight[t][0] = 100.0;
}

tasks::PromptOptions prompt_for(bridge::UserLlm& m, int history) {
  tasks::PromptOptions p;
  p.text_history = m->options().integration == bridge::IntegrationKind::kText;
  p.context = llm_config().max_position_embeddings;
  p.user_vectors = m->options().integration == bridge::IntegrationKind::kSoftPrompt ? m->context_length(history) : 0;
  return p;
}

std::vector<tasks::Example> examples(tasks::TaskKind kind, int history, size_t n) {
  tasks::TaskOptions t;
  t.kind = kind;
  t.history = history;
  auto ex = tasks::build_examples(shared().ds, t, data::Split::kTest, &*shared().gt);
  if (ex.size() > n) ex.resize(n);
  return ex;
}

eval::EvaluateOptions fast_options() {
  eval::EvaluateOptions o;
  o.latency_requests = 2;
  o.max_new_tokens = 8;
  return o;
}

nlohmann::json run(bridge::UserLlm& m, tasks::TaskKind kind, const std::vector<tasks::Example>& ex, int history,
                   const eval::EvaluateOptions& o = fast_options()) {
  auto& s = shared();
  return eval::evaluate(m, s.ds, &s.ev, *s.tok, kind, ex, prompt_for(m, history), o, &*s.gt);
}

std::vector<int64_t> title_ids(uint32_t item) { return tasks::answer_ids(*shared().tok, shared().ds.item_title(item)); }

// An item no other title can tie with when its tokens are favoured: no
// other title is spelled with its tokens alone.
uint32_t distinctive_item() {
  const auto& ds = shared().ds;
  for (uint32_t x = 2; x < ds.num_items(); ++x) {
    auto ids = title_ids(x);
    std::set<int64_t> mine(ids.begin(), ids.end());
    bool ok = true;
    for (uint32_t j = 2; j < ds.num_items() && ok; ++j) {
      if (j == x) continue;
      auto other = title_ids(j);
      ok = !std::all_of(other.begin(), other.end(), [&](int64_t t) { return mine.count(t) > 0; });
    }
    if (ok) return x;
  }
  ADD_FAILURE() << "no item with a distinctive title";
  return 2;
}

class Evaluate : public ::testing::Test {
 protected:
  static void TearDownTestSuite() { g_shared.reset(); }  // removes the scratch directory
};

}  // namespace

TEST_F(Evaluate, NextItemMetricsInRangeAndOrdered) {
  auto m = make_model(bridge::IntegrationKind::kCrossAttention);
  auto ex = examples(tasks::TaskKind::kNextItem, 8, 5);
  auto out = run(m, tasks::TaskKind::kNextItem, ex, 8);
  EXPECT_EQ(out["task"], "next-item");
  EXPECT_EQ(out["examples"], 5);
  const auto& mt = out["metrics"];
  for (const char* k : {"recall@1", "recall@5", "recall@10", "hit_ratio@1_of_20"}) {
    ASSERT_TRUE(mt.contains(k)) << k;
    EXPECT_GE(mt[k].get<double>(), 0.0);
    EXPECT_LE(mt[k].get<double>(), 1.0);
    EXPECT_GE(out["metrics_std_error"][k].get<double>(), 0.0);
  }
  EXPECT_LE(mt["recall@1"].get<double>(), mt["recall@5"].get<double>());
  EXPECT_LE(mt["recall@5"].get<double>(), mt["recall@10"].get<double>());
}

TEST_F(Evaluate, RiggedNextItemIsAlwaysFound) {
  auto m = make_model(bridge::IntegrationKind::kSoftPrompt, 4);
  const uint32_t x = distinctive_item();
  auto ex = examples(tasks::TaskKind::kNextItem, 8, 4);
  for (auto& e : ex) {
    e.item = x;
    e.answer = std::string(shared().ds.item_title(x));
  }
  rig(m, title_ids(x));
  auto o = fast_options();
  o.beam = 64;  // more than the titles: nothing is pruned
  auto out = run(m, tasks::TaskKind::kNextItem, ex, 8, o);
  EXPECT_DOUBLE_EQ(out["metrics"]["recall@1"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(out["metrics"]["recall@10"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(out["metrics"]["hit_ratio@1_of_20"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(out["metrics_std_error"]["recall@1"].get<double>(), 0.0);
  // The same model asked for a different gold item never ranks it first.
  for (auto& e : ex) e.item = x == 2 ? 3 : 2;
  out = run(m, tasks::TaskKind::kNextItem, ex, 8, o);
  EXPECT_DOUBLE_EQ(out["metrics"]["recall@1"].get<double>(), 0.0);
}

TEST_F(Evaluate, RiggedGenreAccuracyCountsThatGenre) {
  auto m = make_model(bridge::IntegrationKind::kText);
  auto ex = examples(tasks::TaskKind::kFavoriteGenre, 8, 8);
  ASSERT_FALSE(ex.empty());
  const auto& ds = shared().ds;
  const uint32_t g = ex[0].genre;
  int gf = ds.field_index(ds.genre_field());
  auto ids = tasks::answer_ids(*shared().tok, ds.token(gf, g));
  // Other genre names spelled with g's tokens alone would tie.
  for (uint32_t h = 2; h < ds.fields()[size_t(gf)].vocab_size; ++h) {
    if (h == g) continue;
    auto other = tasks::answer_ids(*shared().tok, ds.token(gf, h));
    ASSERT_FALSE(std::all_of(other.begin(), other.end(), [&](int64_t t) {
      return std::find(ids.begin(), ids.end(), t) != ids.end();
    })) << "genre names too alike for this rig";
  }
  rig(m, ids);
  auto out = run(m, tasks::TaskKind::kFavoriteGenre, ex, 8);
  double want = 0, want_true = 0;
  for (const auto& e : ex) {
    want += e.genre == g;
    ASSERT_TRUE(e.true_genre);
    want_true += *e.true_genre == g;
  }
  EXPECT_DOUBLE_EQ(out["metrics"]["accuracy"].get<double>(), want / double(ex.size()));
  EXPECT_DOUBLE_EQ(out["metrics"]["true_genre_accuracy"].get<double>(), want_true / double(ex.size()));
}

TEST_F(Evaluate, RiggedReviewIsScoredByRougeL) {
  auto m = make_model(bridge::IntegrationKind::kCrossAttention);
  auto ex = examples(tasks::TaskKind::kReview, 8, 4);
  ASSERT_FALSE(ex.empty());
  auto& tok = *shared().tok;
  auto o = fast_options();
  // A token of the first review that, repeated, shares a word with it.
  int32_t word = -1;
  for (int32_t t : tok.encode(ex[0].answer, false, false))
    if (word < 0 && eval::rouge_l_f1(tok.decode(std::vector<int32_t>(size_t(o.max_new_tokens), t)), ex[0].answer) > 0) word = t;
  ASSERT_GE(word, 0);
  rig(m, {word});
  auto out = run(m, tasks::TaskKind::kReview, ex, 8, o);
  std::string generated = tok.decode(std::vector<int32_t>(size_t(o.max_new_tokens), word));
  std::vector<double> want;
  for (const auto& e : ex) want.push_back(eval::rouge_l_f1(generated, e.answer));
  EXPECT_NEAR(out["metrics"]["rouge_l_f1"].get<double>(), eval::mean_stat(want).mean, 1e-12);
  EXPECT_GT(out["metrics"]["rouge_l_f1"].get<double>(), 0.0);
  // Favouring EOS alone generates nothing: ROUGE-L 0.
  rig(m, {tok.eos_id()});
  EXPECT_DOUBLE_EQ(run(m, tasks::TaskKind::kReview, ex, 8, o)["metrics"]["rouge_l_f1"].get<double>(), 0.0);
}

// The cost is request_flops at the mean request shape, each part checked
// against the flops.h function of that part with the setup's own widths.
TEST_F(Evaluate, CostPartsMatchTheFlopsFormulas) {
  auto m = make_model(bridge::IntegrationKind::kCrossAttention);
  const int history = 8;
  auto ex = examples(tasks::TaskKind::kNextItem, history, 4);
  auto out = run(m, tasks::TaskKind::kNextItem, ex, history);
  double P = 0, A = 0, L = 0;
  for (const auto& e : ex) {
    auto enc = tasks::encode_example(shared().ds, *shared().tok, e, prompt_for(m, history));
    P += double(enc.prompt.size());
    A += double(enc.answer.size());
    L += double(e.end - e.begin);
  }
  const double n = double(ex.size());
  const int64_t p = std::llround(P / n), a = std::llround(A / n), l = std::llround(L / n);
  const auto c = llm_config();
  const auto& cost = out["cost"];
  const auto& f = cost["flops"];
  eval::ProjectorShape proj{16, 32, true, 0};                  // encoder width -> LLM width, MLP
  eval::CrossAttentionShape cross{2, 32, 2};                   // a block after each of 2 layers
  EXPECT_EQ(f["encoder"], eval::encoder_flops(eval::EncoderShape::from_options(m->encoder->options()), l));
  EXPECT_EQ(f["perceiver"], 0);
  EXPECT_EQ(f["projector"], eval::projector_flops(proj, l));
  EXPECT_EQ(f["cross_attention"], eval::cross_attention_flops(c, cross, p + a, l));
  EXPECT_EQ(f["llm_prefill"], eval::llm_prefill_flops(c, p));
  EXPECT_EQ(f["llm_decode"], eval::llm_decode_flops(c, p, a));
  int64_t total = 0;
  for (const auto& [k, v] : f.items()) total += v.get<int64_t>();
  EXPECT_EQ(cost["flops_per_request"], total);
  EXPECT_EQ(cost["llm_flops_per_request"], f["llm_prefill"].get<int64_t>() + f["llm_decode"].get<int64_t>() +
                                               f["cross_attention"].get<int64_t>());
  EXPECT_DOUBLE_EQ(cost["llm_input_tokens"].get<double>(), P / n);
  EXPECT_DOUBLE_EQ(cost["history_events"].get<double>(), L / n);
  EXPECT_GT(cost["latency_ms"].get<double>(), 0.0);
}

TEST_F(Evaluate, SoftPromptInputsAndPerceiverShape) {
  auto m = make_model(bridge::IntegrationKind::kSoftPrompt, 4);
  auto ex = examples(tasks::TaskKind::kNextItem, 8, 3);
  auto out = run(m, tasks::TaskKind::kNextItem, ex, 8);
  double P = 0;
  for (const auto& e : ex) P += double(tasks::encode_example(shared().ds, *shared().tok, e, prompt_for(m, 8)).prompt.size());
  const double n = double(ex.size());
  EXPECT_DOUBLE_EQ(out["cost"]["llm_input_tokens"].get<double>(), P / n + 4);  // the K latents come first
  auto shape = eval::shape_of(m);
  EXPECT_TRUE(shape.use_perceiver);
  EXPECT_EQ(shape.perceiver.latents, 4);
  EXPECT_EQ(out["cost"]["flops"]["perceiver"], eval::perceiver_flops(shape.perceiver, std::llround(out["cost"]["history_events"].get<double>())));
  EXPECT_EQ(out["cost"]["flops"]["projector"], eval::projector_flops(shape.projector, 4));
  EXPECT_EQ(out["cost"]["flops"]["llm_prefill"], eval::llm_prefill_flops(llm_config(), std::llround(P / n) + 4));
}

// Cross-attention with a Perceiver reads K vectors whatever the history: its
// LLM cost stays put as the history grows, while the text prompt's grows.
TEST_F(Evaluate, HistoryLengthMovesTextCostNotCrossAttention) {
  auto cost_at = [&](bridge::UserLlm& m, int history) {
    return run(m, tasks::TaskKind::kNextItem, examples(tasks::TaskKind::kNextItem, history, 3), history)["cost"];
  };
  auto cross = make_model(bridge::IntegrationKind::kCrossAttention, 4);
  auto c2 = cost_at(cross, 2), c12 = cost_at(cross, 12);
  EXPECT_EQ(c2["llm_flops_per_request"], c12["llm_flops_per_request"]);
  EXPECT_LT(c2["flops"]["encoder"].get<int64_t>(), c12["flops"]["encoder"].get<int64_t>());
  auto text = make_model(bridge::IntegrationKind::kText);
  auto t2 = cost_at(text, 2), t12 = cost_at(text, 12);
  EXPECT_LT(t2["llm_flops_per_request"].get<int64_t>(), t12["llm_flops_per_request"].get<int64_t>());
  EXPECT_LT(t2["llm_input_tokens"].get<double>(), t12["llm_input_tokens"].get<double>());
  EXPECT_EQ(t12["flops"]["encoder"], 0);
  // cost.full_history: TP over the uncut history. Two events fit the context, so it is what TP read;
  // twelve do not, and reading them all would cost more.
  EXPECT_DOUBLE_EQ(t2["full_history"]["history_events"].get<double>(), t2["history_events"].get<double>());
  EXPECT_EQ(t2["full_history"]["llm_flops_per_request"], t2["llm_flops_per_request"]);
  EXPECT_GT(t12["full_history"]["history_events"].get<double>(), t12["history_events"].get<double>());
  EXPECT_GT(t12["full_history"]["llm_flops_per_request"].get<int64_t>(), t12["llm_flops_per_request"].get<int64_t>());
  EXPECT_FALSE(c12.contains("full_history"));
}

TEST_F(Evaluate, SampledSubsetAndBadOptions) {
  auto m = make_model(bridge::IntegrationKind::kText);
  auto ex = examples(tasks::TaskKind::kFavoriteGenre, 8, 100);
  auto o = fast_options();
  o.max_examples = 3;
  auto a = run(m, tasks::TaskKind::kFavoriteGenre, ex, 8, o);
  EXPECT_EQ(a["examples"], 3);
  EXPECT_EQ(a["metrics"], run(m, tasks::TaskKind::kFavoriteGenre, ex, 8, o)["metrics"]);  // the seed fixes the sample
  o.beam = 0;
  EXPECT_THROW(run(m, tasks::TaskKind::kFavoriteGenre, ex, 8, o), Error);
  EXPECT_THROW(run(m, tasks::TaskKind::kFavoriteGenre, {}, 8, fast_options()), Error);
}

// What evaluation reads (the prefilled prompt with the user's context) gives
// the answer the likelihood the training forward gives it, for every
// integration; and every constrained beam spells a catalogue title.
TEST_F(Evaluate, PrefixMatchesTheTrainingForward) {
  auto& sh = shared();
  for (auto kind : {bridge::IntegrationKind::kCrossAttention, bridge::IntegrationKind::kSoftPrompt,
                    bridge::IntegrationKind::kText}) {
    SCOPED_TRACE(bridge::integration_name(kind));
    auto m = make_model(kind, kind == bridge::IntegrationKind::kSoftPrompt ? 4 : 0);
    m->eval();
    torch::NoGradGuard ng;
    for (auto& p : m->named_parameters())
      if (p.key().find("gate") != std::string::npos) p.value().fill_(0.7);  // the context must matter
    const auto ex = examples(tasks::TaskKind::kNextItem, 8, 1).at(0);
    const auto enc = tasks::encode_example(sh.ds, *sh.tok, ex, prompt_for(m, 8));
    auto u = eval::user_side(m, &sh.ev, enc);
    auto prefix = eval::read_prompt(m, enc, u, 16);
    const double got = prefix.score({enc.answer})[0];

    const bool text = kind == bridge::IntegrationKind::kText;
    auto b = tasks::collate({enc}, text ? nullptr : &sh.ev, torch::kCPU);
    auto lp = torch::log_softmax(m->forward(b.history, b.valid, b.ids, b.key_mask).to(torch::kFloat64), -1)[0];
    const int64_t offset = lp.size(0) - b.ids.size(1);  // the soft prompt's vectors come first
    double want = 0;
    for (size_t i = 0; i < enc.answer.size(); ++i)
      want += lp[offset + int64_t(enc.prompt.size() + i) - 1][enc.answer[i]].item<double>();
    EXPECT_NEAR(got, want, 1e-4);

    eval::BeamOptions bo;
    bo.max_steps = 16;
    auto beams = eval::constrained_beam_search(prefix, eval::build_title_trie(sh.ds, *sh.tok), bo);
    EXPECT_GE(beams.size(), 1u);  // a beam of 10 may complete fewer than 10 titles
    EXPECT_LE(beams.size(), 10u);
    for (const auto& beam : beams)
      for (int64_t item : beam.items) EXPECT_EQ(title_ids(uint32_t(item)), beam.tokens);
  }
}
