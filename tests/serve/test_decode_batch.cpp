// Continuous batching against one sequence at a time: rows that join a running
// batch at different steps, leave it, and get shifted when the slots run out
// each get exactly the logits their sequence gets alone, with their own user.
#include <gtest/gtest.h>

#include "serve/decode_batch.h"
#include "serve_fixture.h"

using namespace userllm;

namespace {

struct Seq {
  std::vector<int64_t> tokens;  // prompt, then the tokens fed one by one
  int64_t prompt = 0;
  torch::Tensor context, mask;  // cross-attention user vectors
  int64_t joins = 0;            // batch step at which it is added
};

// Logits [vocab] after each position >= prompt - 1, from one forward over the whole sequence.
torch::Tensor alone(bridge::UserLlm& m, const Seq& s) {
  m->set_cross_context(s.context, s.mask);
  auto ids = torch::tensor(s.tokens, torch::kLong).view({1, -1});
  return m->llm->forward(ids)[0].narrow(0, s.prompt - 1, int64_t(s.tokens.size()) - s.prompt + 1);
}

}  // namespace

TEST(DecodeBatch, RowsJoiningAndLeavingMatchEachSequenceAlone) {
  auto r = train::load_run(test::serve_runs().runs.at("cross-attention"));
  torch::NoGradGuard ng;
  auto& m = r.model;
  const int64_t vocab = m->llm->config().vocab_size, D = m->llm->config().hidden_size;
  torch::manual_seed(3);
  std::vector<Seq> seqs;
  const int64_t prompts[] = {5, 9, 3, 12};
  const int64_t joins[] = {0, 0, 4, 7};
  const int64_t S[] = {4, 2, 4, 1};
  for (int i = 0; i < 4; ++i) {
    Seq s;
    s.prompt = prompts[i];
    for (int64_t t = 0; t < prompts[i] + 14; ++t) s.tokens.push_back(torch::randint(2, vocab, {1}).item<int64_t>());
    s.context = torch::randn({1, S[i], D});
    s.mask = torch::ones({1, S[i]}, torch::kBool);
    if (i == 1) s.mask[0][1] = false;  // a padded user vector
    s.joins = joins[i];
    seqs.push_back(s);
  }
  std::vector<torch::Tensor> want;
  for (const auto& s : seqs) want.push_back(alone(m, s));

  // With 32 slots the rows are shifted left as the slots run out (the batch runs 33 steps wide).
  for (int64_t capacity : {int64_t(0), int64_t(32)}) {
    SCOPED_TRACE(capacity);
    serve::DecodeBatch batch(m->llm, m->cross, {3, capacity, 4});
    std::vector<int> row_seq;       // which sequence each row holds
    std::vector<int64_t> fed(4, 0);  // tokens after the prompt fed so far
    double worst = 0;
    for (int64_t step = 0; step < 24; ++step) {
      // Those joining at the same step are prefilled together (sequences 0 and 1, of unequal
      // prompts and user vectors), the others alone.
      std::vector<serve::Prefill> joining;
      std::vector<int> who;
      for (int i = 0; i < 4; ++i) {
        if (seqs[i].joins != step || batch.rows() + int64_t(joining.size()) == 3) continue;
        serve::Prefill p;
        p.ids = torch::tensor(std::vector<int64_t>(seqs[i].tokens.begin(), seqs[i].tokens.begin() + seqs[i].prompt)).view({1, -1});
        p.context = seqs[i].context;
        p.context_mask = seqs[i].mask;
        joining.push_back(p);
        who.push_back(i);
      }
      if (joining.size() == 1) {
        worst = std::max(worst, (batch.add(joining[0]) - want[who[0]][0]).abs().max().item<double>());
      } else if (!joining.empty()) {
        auto first = batch.add_many(joining);
        for (size_t j = 0; j < who.size(); ++j)
          worst = std::max(worst, (first[j] - want[who[j]][0]).abs().max().item<double>());
      }
      row_seq.insert(row_seq.end(), who.begin(), who.end());
      if (batch.rows() == 0) continue;
      std::vector<int64_t> tokens;
      for (int i : row_seq) tokens.push_back(seqs[i].tokens[size_t(seqs[i].prompt + fed[i])]);
      auto logits = batch.step(tokens);
      for (size_t row = 0; row < row_seq.size(); ++row) {
        const int i = row_seq[row];
        ++fed[i];
        worst = std::max(worst, (logits[int64_t(row)] - want[i][fed[i]]).abs().max().item<double>());
      }
      // Sequence 0 leaves after 6 tokens (its row is refilled by the last one), the rest at 13.
      for (size_t row = row_seq.size(); row-- > 0;) {
        const int i = row_seq[row];
        if (fed[i] == (i == 0 ? 6 : 13)) {
          batch.remove(int64_t(row));
          row_seq[row] = row_seq.back();
          row_seq.pop_back();
        }
      }
    }
    EXPECT_EQ(fed[3], 13);  // the last one joined once a row was free and finished
    EXPECT_LT(worst, 1e-4);
  }
}
