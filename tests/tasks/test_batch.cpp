// Prompt encoding and collation on synthetic data with a word tokenizer (token
// counts are word counts): the text budget holds, the most recent events are
// the ones kept, padding is on the left, and the loss covers answer + EOS only.
#include <gtest/gtest.h>

#include "common/error.h"
#include "data/synth.h"
#include "encoder/events.h"
#include "tasks/batch.h"
#include "tasks/text_history.h"
#include "tasks/word_tokenizer.h"
#include "test_util.h"

using namespace userllm;

namespace {

struct Fixture {
  test::ScratchDir dir;
  std::unique_ptr<data::Dataset> ds;
  std::vector<tasks::Example> examples;
  Fixture() {
    data::SynthOptions so;
    so.users = 12;
    so.items = 60;
    so.events_per_user = 40;
    data::write_synthetic_dataset(so, dir / "synth");
    ds = std::make_unique<data::Dataset>(data::Dataset::open(dir / "synth"));
    tasks::TaskOptions to;
    to.history = 30;
    examples = tasks::build_examples(*ds, to, data::Split::kTest);
  }
};

}  // namespace

TEST(Batch, TextPromptRespectsBudgetAndKeepsTheLatestEvents) {
  Fixture f;
  test::WordTokenizer tok;
  ASSERT_FALSE(f.examples.empty());
  tasks::PromptOptions po;
  po.text_history = true;
  po.context = 120;
  po.answer_reserve = 10;
  for (const auto& ex : f.examples) {
    auto e = tasks::encode_example(*f.ds, tok, ex, po);
    const int64_t fixed = int64_t(tok.encode("The user's history: \n" + ex.prompt, true, false).size());
    const int64_t budget = po.context - fixed - po.answer_reserve;
    EXPECT_LE(e.history_text_tokens, budget);
    EXPECT_LE(int64_t(e.prompt.size() + e.answer.size()), po.context);
    EXPECT_EQ(int64_t(e.prompt.size()), fixed + e.history_text_tokens);
    ASSERT_GT(e.history_text_events, 0);
    ASSERT_LT(e.history_text_events, int64_t(ex.end - ex.begin));  // 120 positions cannot hold 30 events
    // Exactly the latest events, and one more would not have fitted.
    auto kept = tasks::render_history(*f.ds, ex.end - e.history_text_events, ex.end, tok, 1 << 20);
    EXPECT_EQ(kept.tokens, e.history_text_tokens);
    auto more = tasks::render_history(*f.ds, ex.end - e.history_text_events - 1, ex.end, tok, 1 << 20);
    EXPECT_GT(more.tokens, budget);
    // The prompt is BOS, the frame, the history text and the instruction, in that order.
    std::string expect = "The user's history: " + kept.text + "\n" + ex.prompt;
    auto want = tok.encode(expect, true, false);
    EXPECT_EQ(e.prompt, std::vector<int64_t>(want.begin(), want.end()));
    auto ans = tok.encode(ex.answer, false, true);
    EXPECT_EQ(e.answer, std::vector<int64_t>(ans.begin(), ans.end()));
    EXPECT_EQ(e.history_begin, ex.begin);
    EXPECT_EQ(e.history_end, ex.end);
  }
}

TEST(Batch, VectorPromptsCarryTheInstructionAndCutTheAnswer) {
  Fixture f;
  test::WordTokenizer tok;
  const auto& ex = f.examples.front();
  tasks::PromptOptions po;
  po.context = 200;
  po.user_vectors = 8;
  auto e = tasks::encode_example(*f.ds, tok, ex, po);
  auto want = tok.encode(ex.prompt, true, false);
  EXPECT_EQ(e.prompt, std::vector<int64_t>(want.begin(), want.end()));
  EXPECT_EQ(e.answer.back(), tok.eos_id());
  EXPECT_EQ(e.history_text_events, 0);
  // Room for two answer tokens only (soft-prompt vectors count against the context).
  po.context = int64_t(e.prompt.size()) + po.user_vectors + 2;
  auto cut = tasks::encode_example(*f.ds, tok, ex, po);
  ASSERT_EQ(cut.answer.size(), 2u);
  EXPECT_EQ(cut.answer[0], e.answer[0]);
  // No room for any answer token: a clear error.
  po.context = int64_t(e.prompt.size()) + po.user_vectors;
  EXPECT_THROW(tasks::encode_example(*f.ds, tok, ex, po), Error);
}

TEST(Batch, CollatePadsLeftAndMasksTheAnswer) {
  Fixture f;
  test::WordTokenizer tok;
  auto ev = encoder::events_from(*f.ds, true);
  tasks::PromptOptions po;
  po.context = 300;
  std::vector<tasks::EncodedExample> enc;
  for (size_t i = 0; i < 4; ++i) enc.push_back(tasks::encode_example(*f.ds, tok, f.examples[i], po));
  enc[1].answer.resize(1);  // rows of different lengths
  enc[2].history_begin = enc[2].history_end - 3;
  auto b = tasks::collate(enc, &ev, torch::kCPU);
  int64_t T = 0, L = 0;
  for (const auto& e : enc) {
    T = std::max<int64_t>(T, int64_t(e.prompt.size() + e.answer.size()));
    L = std::max<int64_t>(L, int64_t(e.history_end - e.history_begin));
  }
  ASSERT_EQ(b.ids.sizes(), (std::vector<int64_t>{4, T}));
  ASSERT_EQ(b.history.sizes(), (std::vector<int64_t>{4, L, ev.num_fields()}));
  for (int64_t r = 0; r < 4; ++r) {
    const auto& e = enc[r];
    const int64_t n = int64_t(e.prompt.size() + e.answer.size()), pad = T - n;
    for (int64_t t = 0; t < T; ++t) {
      const bool real = t >= pad;
      EXPECT_EQ(b.key_mask[r][t].item<int64_t>(), real);
      const int64_t i = t - pad;
      const bool answer = real && i >= int64_t(e.prompt.size());
      EXPECT_EQ(b.loss_mask[r][t].item<float>(), answer ? 1.0f : 0.0f);
      const int64_t want = !real ? 0 : answer ? e.answer[i - e.prompt.size()] : e.prompt[i];
      EXPECT_EQ(b.ids[r][t].item<int64_t>(), want);
    }
    EXPECT_EQ(b.loss_mask[r].sum().item<float>(), float(e.answer.size()));
    // Encoder rows: the history's events in order, then padding.
    const int64_t h = int64_t(e.history_end - e.history_begin);
    for (int64_t t = 0; t < L; ++t) {
      EXPECT_EQ(b.valid[r][t].item<bool>(), t < h);
      for (int fi = 0; fi < ev.num_fields(); ++fi)
        EXPECT_EQ(b.history[r][t][fi].item<int64_t>(), t < h ? int64_t(ev.event(e.history_begin + t)[fi]) : 0);
    }
  }
  auto [rows, valid] = tasks::history_rows(ev, enc[2].history_begin, enc[2].history_end, torch::kCPU);
  EXPECT_TRUE(torch::equal(rows[0], b.history[2].narrow(0, 0, 3)));
  EXPECT_EQ(valid.sum().item<int64_t>(), 3);
  EXPECT_THROW(tasks::history_rows(ev, 5, ev.num_events() + 1, torch::kCPU), Error);
  auto text = tasks::collate(enc, nullptr, torch::kCPU);
  EXPECT_FALSE(text.history.defined());
}

// A real subword tokenizer merges across the joins of the prompt's parts: the
// whole prompt must still leave room for the answer, with the latest events kept.
TEST(Batch, TextPromptFitsWithARealTokenizer) {
  USERLLM_SHARED_OR_SKIP(tok_path, "models/stories260K/tok512.bin");
  Fixture f;
  auto tok = llm::load_tokenizer(tok_path);
  tasks::PromptOptions po;
  po.text_history = true;
  po.answer_reserve = 8;
  for (int64_t context : {60, 96, 160}) {
    po.context = context;
    for (const auto& ex : f.examples) {
      auto e = tasks::encode_example(*f.ds, *tok, ex, po);
      EXPECT_LE(int64_t(e.prompt.size() + e.answer.size()), context);
      EXPECT_GE(e.answer.size(), 1u);
      auto kept = tasks::render_history(*f.ds, ex.end - e.history_text_events, ex.end, *tok, 1 << 20);
      auto want = tok->encode("The user's history: " + kept.text + "\n" + ex.prompt, true, false);
      EXPECT_EQ(e.prompt, std::vector<int64_t>(want.begin(), want.end()));
      if (context == 160) {
        EXPECT_GT(e.history_text_events, 0);
      }
    }
  }
}
