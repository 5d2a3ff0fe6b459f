// The stories260K tokenizer (../shared) on synthetic-data titles: the
// history rendering is the longest suffix that fits (real BPE counts are not
// additive), and every trie path decodes back to its title.
#include <gtest/gtest.h>

#include "data/synth.h"
#include "eval/title_trie.h"
#include "tasks/text_history.h"
#include "test_util.h"

using namespace userllm;

TEST(RealTokenizer, HistoryBudgetAndTitleTrie) {
  USERLLM_SHARED_OR_SKIP(tok_path, "models/stories260K/tok512.bin");
  auto tok = llm::load_tokenizer(tok_path);
  test::ScratchDir dir;
  data::SynthOptions so;
  so.users = 5;
  so.items = 40;
  so.events_per_user = 30;
  data::write_synthetic_dataset(so, dir / "synth");
  auto ds = data::Dataset::open(dir / "synth");
  for (uint32_t u = 0; u < ds.num_users(); ++u) {
    uint64_t b = ds.user_begin(u), e = ds.user_end(u);
    for (int64_t budget : {0, 10, 60, 200}) {
      auto r = tasks::render_history(ds, b, e, *tok, budget);
      EXPECT_LE(r.tokens, budget);
      EXPECT_EQ(r.tokens, int64_t(tok->encode(r.text, false, false).size()));
      if (r.kept < int64_t(e - b)) {  // one more event would not fit
        auto more = tasks::render_history(ds, e - r.kept - 1, e, *tok, 1 << 20);
        EXPECT_GT(more.tokens, budget);
      }
    }
  }
  auto trie = eval::build_title_trie(ds, *tok);
  ASSERT_EQ(trie.sequences().size(), ds.num_items() - 2);
  for (const auto& [item, seq] : trie.sequences()) {
    ASSERT_EQ(seq.back(), tok->eos_id());
    std::string text = tok->decode(std::vector<int32_t>(seq.begin(), seq.end() - 1));
    while (!text.empty() && text.front() == ' ') text.erase(0, 1);
    EXPECT_EQ(text, std::string(ds.item_title(uint32_t(item))));
  }
}
