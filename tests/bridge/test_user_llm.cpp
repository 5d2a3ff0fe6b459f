// UserLlm on a tiny random encoder and LLM: each training strategy changes
// exactly the parameters it should, padded batches give the logits of single
// examples, and every integration can fit a small batch.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <set>
#include <string>

#include "bridge/user_llm.h"
#include "common/error.h"

using namespace userllm;
using bridge::IntegrationKind;
using bridge::Strategy;

namespace {

constexpr int64_t kVocab = 40;

llm::LlamaConfig tiny_llm_config() {
  llm::LlamaConfig c;
  c.vocab_size = kVocab;
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.max_position_embeddings = 64;
  c.rms_norm_eps = 1e-5;
  return c;
}

encoder::EncoderOptions tiny_encoder_options() {
  encoder::EncoderOptions o;
  o.fields = {{"item", 30, 16}, {"genre", 8, 8}};
  o.time_gap = false;
  o.dim = 24;
  o.layers = 1;
  o.heads = 2;
  o.max_len = 16;
  o.dropout = 0;
  return o;
}

bridge::UserLlm make_model(IntegrationKind integration, Strategy strategy, int64_t perceiver = 0, uint64_t seed = 7) {
  torch::manual_seed(seed);
  bridge::UserLlmOptions o;
  o.integration = integration;
  o.strategy = strategy;
  o.perceiver = perceiver;
  o.perceiver_heads = 2;
  o.cross_heads = 4;
  o.lora.rank = 4;
  encoder::UserEncoder enc{nullptr};
  if (integration != IntegrationKind::kText) enc = encoder::UserEncoder(tiny_encoder_options());
  return bridge::UserLlm(o, enc, llm::LlamaForCausalLM(tiny_llm_config()));
}

// Two users: histories of 5 and 3 events (right-padded), prompts of 4 and 6
// tokens left-padded, each followed by a 2-token answer.
struct TinyBatch {
  torch::Tensor history, valid, ids, key_mask, loss_mask;
};

TinyBatch tiny_batch() {
  TinyBatch b;
  b.history = torch::zeros({2, 5, 2}, torch::kLong);
  b.history[0].select(1, 0).copy_(torch::tensor({3, 4, 5, 6, 7}));
  b.history[0].select(1, 1).copy_(torch::tensor({2, 3, 2, 3, 2}));
  b.history[1].narrow(0, 0, 3).select(1, 0).copy_(torch::tensor({9, 10, 11}));
  b.history[1].narrow(0, 0, 3).select(1, 1).copy_(torch::tensor({4, 5, 4}));
  b.valid = torch::tensor({1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, torch::kBool).view({2, 5});
  b.ids = torch::tensor({0, 0, 1, 5, 6, 7, 20, 21,  //
                         1, 8, 9, 10, 11, 12, 22, 23},
                        torch::kLong)
              .view({2, 8});
  b.key_mask = torch::tensor({0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, torch::kLong).view({2, 8});
  b.loss_mask = torch::zeros({2, 8});
  b.loss_mask.narrow(1, 6, 2).fill_(1);
  return b;
}

std::map<std::string, torch::Tensor> snapshot(bridge::UserLlm& m) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : m->named_parameters(true)) out[p.key()] = p.value().detach().clone();
  return out;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// The parameters a strategy must train, by the name rules of user_llm.h.
bool should_train(const std::string& name, IntegrationKind integration, Strategy s) {
  const bool is_llm = starts_with(name, "llm.");
  const bool is_lora = name.find(".lora_") != std::string::npos;
  const bool is_encoder = starts_with(name, "encoder.");
  const bool is_head = starts_with(name, "encoder.head_") || starts_with(name, "encoder.bias_");
  (void)integration;
  if (is_llm) return s == Strategy::kFull || (s == Strategy::kLora && is_lora);
  if (is_encoder) return !is_head && (s == Strategy::kFull || s == Strategy::kLora || s == Strategy::kEnc);
  return true;  // perceiver, projector, cross-attention blocks
}

}  // namespace

class StrategyTest : public ::testing::TestWithParam<std::tuple<IntegrationKind, Strategy, int64_t>> {};

// After a few AdamW steps (the first opens the zero-initialised gates and
// LoRA B matrices; later ones reach everything behind them) the trained
// parameters have all moved and every other one is bit-identical.
TEST_P(StrategyTest, ChangesExactlyItsParameters) {
  auto [integration, strategy, perceiver] = GetParam();
  auto model = make_model(integration, strategy, perceiver);
  model->train();
  auto trained = model->trained_parameters();
  ASSERT_FALSE(trained.empty());
  std::set<std::string> trained_names;
  std::vector<torch::Tensor> params;
  for (auto& [name, t] : trained) {
    trained_names.insert(name);
    params.push_back(t);
  }
  auto before = snapshot(model);
  for (const auto& [name, t] : before)
    EXPECT_EQ(trained_names.count(name) == 1, should_train(name, integration, strategy)) << name;

  torch::optim::AdamW opt(params, torch::optim::AdamWOptions(1e-2).weight_decay(0));
  TinyBatch b = tiny_batch();
  for (int step = 0; step < 3; ++step) {
    opt.zero_grad();
    auto loss = model->loss(b.history, b.valid, b.ids, b.key_mask, b.loss_mask);
    loss.backward();
    opt.step();
  }
  auto after = snapshot(model);
  for (const auto& [name, t] : before) {
    if (trained_names.count(name))
      EXPECT_FALSE(torch::equal(t, after[name])) << name << " is trained but did not change";
    else
      EXPECT_TRUE(torch::equal(t, after[name])) << name << " is frozen but changed";
  }
}

INSTANTIATE_TEST_SUITE_P(
    UserLlm, StrategyTest,
    ::testing::Values(std::make_tuple(IntegrationKind::kCrossAttention, Strategy::kFull, 0),
                      std::make_tuple(IntegrationKind::kCrossAttention, Strategy::kLora, 0),
                      std::make_tuple(IntegrationKind::kCrossAttention, Strategy::kEnc, 4),
                      std::make_tuple(IntegrationKind::kCrossAttention, Strategy::kProj, 4),
                      std::make_tuple(IntegrationKind::kSoftPrompt, Strategy::kFull, 4),
                      std::make_tuple(IntegrationKind::kSoftPrompt, Strategy::kLora, 0),
                      std::make_tuple(IntegrationKind::kSoftPrompt, Strategy::kEnc, 0),
                      std::make_tuple(IntegrationKind::kSoftPrompt, Strategy::kProj, 0),
                      std::make_tuple(IntegrationKind::kText, Strategy::kFull, 0),
                      std::make_tuple(IntegrationKind::kText, Strategy::kLora, 0)));

// Row b of a padded batch must give the logits the same example gives alone:
// the encoder's right padding, the Perceiver's and cross-attention's context
// masks and the soft prompt's packing all hide the padding.
TEST(UserLlm, PaddedBatchEqualsSingleExamples) {
  for (auto [integration, perceiver] : {std::pair{IntegrationKind::kCrossAttention, 0},
                                        std::pair{IntegrationKind::kCrossAttention, 3},
                                        std::pair{IntegrationKind::kSoftPrompt, 0},
                                        std::pair{IntegrationKind::kSoftPrompt, 3}}) {
    auto model = make_model(integration, Strategy::kFull, perceiver);
    model->eval();
    if (model->cross)  // open the gates so the context matters
      for (auto& p : model->cross->named_parameters())
        if (p.key().find("gate") != std::string::npos) p.value().data().fill_(0.7);
    torch::NoGradGuard ng;
    TinyBatch b = tiny_batch();
    auto batch = model->forward(b.history, b.valid, b.ids, b.key_mask);
    const int64_t hist_len[2] = {5, 3}, prompt_len[2] = {6, 8};
    for (int64_t r = 0; r < 2; ++r) {
      auto h = b.history[r].narrow(0, 0, hist_len[r]).unsqueeze(0);
      auto v = b.valid[r].narrow(0, 0, hist_len[r]).unsqueeze(0);
      auto ids = b.ids[r].narrow(0, 8 - prompt_len[r], prompt_len[r]).unsqueeze(0);
      auto single = model->forward(h, v, ids, torch::ones_like(ids));
      auto tail = batch[r].narrow(0, batch.size(1) - prompt_len[r], prompt_len[r]);
      EXPECT_TRUE(torch::allclose(tail, single[0].narrow(0, single.size(1) - prompt_len[r], prompt_len[r]), 1e-4,
                                  1e-5))
          << bridge::integration_name(integration) << " perceiver " << perceiver << " row " << r;
    }
  }
}

// A soft prompt puts K (Perceiver) or L vectors before the tokens.
TEST(UserLlm, SoftPromptLengthIsLatentsOrHistory) {
  TinyBatch b = tiny_batch();
  torch::NoGradGuard ng;
  auto plain = make_model(IntegrationKind::kSoftPrompt, Strategy::kFull, 0);
  EXPECT_EQ(plain->forward(b.history, b.valid, b.ids, b.key_mask).size(1), 5 + 8);
  EXPECT_EQ(plain->context_length(200), 200);
  auto latents = make_model(IntegrationKind::kSoftPrompt, Strategy::kFull, 3);
  EXPECT_EQ(latents->forward(b.history, b.valid, b.ids, b.key_mask).size(1), 3 + 8);
  EXPECT_EQ(latents->context_length(200), 3);
}

// Overfitting one small batch: the answer-only loss must fall for every integration.
TEST(UserLlm, EveryIntegrationFitsASmallBatch) {
  for (auto [integration, perceiver] : {std::pair{IntegrationKind::kCrossAttention, 0},
                                        std::pair{IntegrationKind::kCrossAttention, 3},
                                        std::pair{IntegrationKind::kSoftPrompt, 0},
                                        std::pair{IntegrationKind::kText, 0}}) {
    auto model = make_model(integration, Strategy::kFull, perceiver);
    model->train();
    std::vector<torch::Tensor> params;
    for (auto& [name, t] : model->trained_parameters()) params.push_back(t);
    torch::optim::AdamW opt(params, torch::optim::AdamWOptions(3e-3));
    TinyBatch b = tiny_batch();
    double first = 0, last = 0;
    for (int step = 0; step < 40; ++step) {
      opt.zero_grad();
      auto loss = model->loss(b.history, b.valid, b.ids, b.key_mask, b.loss_mask);
      loss.backward();
      opt.step();
      (step == 0 ? first : last) = loss.item<double>();
    }
    EXPECT_LT(last, 0.5 * first) << bridge::integration_name(integration) << " perceiver " << perceiver;
  }
}

TEST(UserLlm, TrainedStateRoundTripAndRejectsStrangers) {
  auto a = make_model(IntegrationKind::kCrossAttention, Strategy::kProj, 3, /*seed=*/1);
  auto b = make_model(IntegrationKind::kCrossAttention, Strategy::kProj, 3, /*seed=*/2);
  std::map<std::string, torch::Tensor> state;
  for (auto& [name, t] : a->trained_parameters()) state[name] = t.detach().clone();
  for (const auto& [name, t] : state) EXPECT_FALSE(starts_with(name, "llm.") || starts_with(name, "encoder.")) << name;
  b->load_trained(state, "test");
  for (auto& [name, t] : b->trained_parameters()) EXPECT_TRUE(torch::equal(t, state[name])) << name;

  auto missing = state;
  missing.erase(missing.begin());
  EXPECT_THROW(b->load_trained(missing, "test"), Error);
  auto extra = state;
  extra["llm.model.norm.weight"] = torch::ones({32});
  EXPECT_THROW(b->load_trained(extra, "test"), Error);
  auto wrong = state;
  wrong.begin()->second = torch::zeros({2, 3, 5});
  EXPECT_THROW(b->load_trained(wrong, "test"), Error);
}

TEST(UserLlm, RejectsImpossibleOptions) {
  bridge::UserLlmOptions o;
  o.integration = IntegrationKind::kText;
  o.strategy = Strategy::kProj;
  EXPECT_THROW(o.validate(), Error);
  o.strategy = Strategy::kFull;
  o.perceiver = 16;
  EXPECT_THROW(o.validate(), Error);
  EXPECT_THROW(bridge::parse_integration("telepathy"), Error);
  EXPECT_THROW(bridge::parse_strategy("all"), Error);
  bridge::UserLlmOptions x;
  x.perceiver = 8;
  x.strategy = Strategy::kLora;
  auto back = bridge::user_llm_options_from_json(bridge::to_json(x));
  EXPECT_EQ(back.perceiver, 8);
  EXPECT_EQ(back.strategy, Strategy::kLora);
  // Cross-attention needs an encoder.
  EXPECT_THROW(bridge::UserLlm(bridge::UserLlmOptions{}, encoder::UserEncoder{nullptr},
                               llm::LlamaForCausalLM(tiny_llm_config())),
               Error);
}

// Decoding reuses one user's context for many rows: expanding the cached keys
// and values must equal setting the repeated context.
TEST(UserLlm, ExpandedContextEqualsRepeatedContext) {
  auto model = make_model(IntegrationKind::kCrossAttention, Strategy::kFull, 3);
  model->eval();
  for (auto& p : model->cross->named_parameters())
    if (p.key().find("gate") != std::string::npos) p.value().data().fill_(0.7);
  torch::NoGradGuard ng;
  TinyBatch b = tiny_batch();
  auto [context, mask] = model->user_context(b.history.narrow(0, 0, 1), b.valid.narrow(0, 0, 1));
  auto ids = torch::randint(1, kVocab, {3, 4}, torch::kLong);
  model->set_cross_context(context.expand({3, -1, -1}), mask.expand({3, -1}));
  auto repeated = model->llm->forward(ids);
  model->set_cross_context(context, mask);
  model->cross->expand_context(3);
  auto expanded = model->llm->forward(ids);
  EXPECT_TRUE(torch::allclose(repeated, expanded, 1e-5, 1e-6));
  model->set_cross_context(context.expand({2, -1, -1}), mask.expand({2, -1}));
  EXPECT_THROW(model->cross->expand_context(3), Error);
}

// The user is only in the context: every prompt is the same and the answer is
// the class of the user's first history item. Each integration that reads
// user vectors must learn it (a bridge that passes nothing stays at ln 8).
TEST(UserLlm, AnswerThatOnlyTheContextHolds) {
  for (auto [integration, perceiver] : {std::pair{IntegrationKind::kCrossAttention, 0},
                                        std::pair{IntegrationKind::kCrossAttention, 3},
                                        std::pair{IntegrationKind::kSoftPrompt, 0}}) {
    auto model = make_model(integration, Strategy::kFull, perceiver);
    model->train();
    const int64_t B = 8;
    auto history = torch::zeros({B, 3, 2}, torch::kLong);
    for (int64_t b = 0; b < B; ++b) {
      history[b][0][0] = 2 + b;  // the item that decides the answer
      history[b][1][0] = 12;
      history[b][2][0] = 13;
      history[b].select(1, 1).fill_(2);
    }
    auto valid = torch::ones({B, 3}, torch::kBool);
    auto ids = torch::tensor({1, 5, 6, 7, 0}, torch::kLong).repeat({B, 1});
    ids.select(1, 4).copy_(torch::arange(20, 20 + B));
    auto key_mask = torch::ones_like(ids);
    auto loss_mask = torch::zeros({B, 5});
    loss_mask.select(1, 4).fill_(1);
    std::vector<torch::Tensor> params;
    for (auto& [name, t] : model->trained_parameters()) params.push_back(t);
    torch::optim::AdamW opt(params, torch::optim::AdamWOptions(3e-3).weight_decay(0));
    double last = 0;
    for (int step = 0; step < 150; ++step) {
      opt.zero_grad();
      auto loss = model->loss(history, valid, ids, key_mask, loss_mask);
      loss.backward();
      opt.step();
      last = loss.item<double>();
    }
    EXPECT_LT(last, 0.5) << bridge::integration_name(integration) << " perceiver " << perceiver
                         << ": the answer is only in the context (chance is ln 8 = 2.08)";
  }
}
