// Every supported model family against an independent Python reference
// (tests/llm/reference/hf_families.py, written from the Hugging Face modelling
// code on python3-torch alone): a tiny checkpoint with random weights and the
// family's published config fields, its logits for fixed prompts, full and with
// a KV cache, single and batched; prompts run past Gemma's and Mistral's sliding
// window and past Llama 3's original context.
#include <gtest/gtest.h>

#include "common/atomic_file.h"
#include "common/error.h"
#include "llm/checkpoint.h"
#include "llm/generate.h"
#include "llm/init.h"
#include "llm/lora.h"
#include "test_util.h"

namespace userllm::llm {
namespace {
namespace fs = std::filesystem;

constexpr double kTol = 1e-4;
const char* kPython = "/usr/bin/python3";

struct Reference {
  std::vector<torch::Tensor> prompts, logits, incremental;  // per prompt: [T] int64, [T, V], [T, V]
};

// Writes the family's checkpoint into dir and reads its reference logits back.
Reference make_reference(const std::string& family, const fs::path& dir) {
  const auto script = fs::path(USERLLM_SOURCE_DIR) / "tests/llm/reference/hf_families.py";
  auto r = test::run_shell(std::string(kPython) + " " + script.string() + " --family " + family + " --out " +
                           dir.string());
  if (r.exit_code != 0) throw Error("hf_families.py failed for " + family + ":\n" + r.output);
  auto t = read_safetensors(dir / "reference.safetensors");
  Reference ref;
  for (size_t i = 0; t.count("prompt_" + std::to_string(i)); ++i) {
    ref.prompts.push_back(t.at("prompt_" + std::to_string(i)));
    ref.logits.push_back(t.at("logits_" + std::to_string(i)));
    ref.incremental.push_back(t.at("incremental_logits_" + std::to_string(i)));
  }
  return ref;
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

class Family : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!fs::exists(kPython)) GTEST_SKIP() << "/usr/bin/python3 (with python3-torch) is absent";
    ref_ = make_reference(GetParam(), dir_.path());
    ASSERT_GE(ref_.prompts.size(), 3u);
    model_ = load_model(dir_.path());
    model_->eval();
  }
  test::ScratchDir dir_;
  Reference ref_;
  LlamaForCausalLM model_{nullptr};
};

TEST_P(Family, FullForwardMatchesTheReference) {
  torch::NoGradGuard g;
  for (size_t i = 0; i < ref_.prompts.size(); ++i) {
    auto logits = model_->forward(ref_.prompts[i].unsqueeze(0)).squeeze(0);
    EXPECT_LT(max_diff(logits, ref_.logits[i]), kTol) << "prompt " << i << " of " << ref_.prompts[i].size(0) << " tokens";
  }
}

// Prefill of the first ceil(T/2) tokens, then one token per step, as the reference's incremental run.
TEST_P(Family, CachedDecodeMatchesTheReference) {
  torch::NoGradGuard g;
  const auto& cfg = model_->config();
  for (size_t i = 0; i < ref_.prompts.size(); ++i) {
    const auto ids = ref_.prompts[i].unsqueeze(0);
    const int64_t T = ids.size(1), P = (T + 1) / 2;
    KVCache cache(cfg, 1, T, torch::kCPU);
    std::vector<torch::Tensor> parts{model_->forward(ids.narrow(1, 0, P), &cache)};
    for (int64_t t = P; t < T; ++t) parts.push_back(model_->forward(ids.narrow(1, t, 1), &cache));
    auto logits = torch::cat(parts, 1).squeeze(0);
    EXPECT_LT(max_diff(logits, ref_.incremental[i]), kTol) << "prompt " << i << " of " << T << " tokens";
  }
}

// All prompts in one left-padded batch: a prefill of each prompt but its last k
// tokens, then k lockstep decode steps; every real position matches the reference.
TEST_P(Family, BatchedPaddedDecodeMatchesTheReference) {
  torch::NoGradGuard g;
  const auto& cfg = model_->config();
  std::vector<size_t> rows;
  for (size_t i = 0; i < ref_.prompts.size(); ++i) {
    // Dynamic NTK scales by the batch's longest position; keep such batches inside the original context.
    const bool dynamic = cfg.rope_scaling.type == RopeScaling::Type::kDynamic;
    if (ref_.prompts[i].size(0) >= 2 && (!dynamic || ref_.prompts[i].size(0) <= cfg.max_position_embeddings))
      rows.push_back(i);
  }
  ASSERT_GE(rows.size(), 2u);
  int64_t k = INT64_MAX, longest = 0;
  for (size_t i : rows) {
    k = std::min<int64_t>(k, ref_.prompts[i].size(0) - 1);
    longest = std::max<int64_t>(longest, ref_.prompts[i].size(0));
  }
  const int64_t B = int64_t(rows.size()), P = longest - k;
  auto ids = torch::zeros({B, longest}, torch::kLong), mask = torch::zeros({B, longest}, torch::kLong);
  for (int64_t b = 0; b < B; ++b) {
    const auto& p = ref_.prompts[rows[size_t(b)]];
    const int64_t off = longest - p.size(0);
    ids[b].narrow(0, off, p.size(0)).copy_(p);
    mask[b].narrow(0, off, p.size(0)).fill_(1);
  }
  KVCache cache(cfg, B, longest, torch::kCPU);
  auto first = mask.narrow(1, 0, P);
  std::vector<torch::Tensor> parts{model_->forward(ids.narrow(1, 0, P), &cache, make_positions(first, P), first)};
  for (int64_t t = P; t < longest; ++t) {
    auto m = mask.narrow(1, 0, t + 1);
    parts.push_back(model_->forward(ids.narrow(1, t, 1), &cache, make_positions(m, 1), m));
  }
  auto logits = torch::cat(parts, 1);  // [B, longest, V]
  for (int64_t b = 0; b < B; ++b) {
    const auto& want = ref_.logits[rows[size_t(b)]];
    const int64_t T = want.size(0), off = longest - T;
    EXPECT_LT(max_diff(logits[b].narrow(0, off, T), want), kTol) << "row " << b << " of " << T << " tokens";
  }
}

// The user-vector integrations reach every family the same way: input
// embeddings (soft prompt), layer hooks (cross-attention) and LoRA.
TEST_P(Family, EmbeddingsHooksAndLoraWork) {
  torch::NoGradGuard g;
  // The longest prompt, but for dynamic NTK one whose soft-prompted cached run stays
  // inside the trained context (past it, cached keys keep older frequencies by design).
  size_t pick = ref_.prompts.size() - 1;
  const auto& cfg = model_->config();
  if (cfg.rope_scaling.type == RopeScaling::Type::kDynamic)
    while (pick > 0 && ref_.prompts[pick].size(0) + 3 > cfg.max_position_embeddings) --pick;
  const auto ids = ref_.prompts[pick].unsqueeze(0);
  const auto want = ref_.logits[pick];
  EXPECT_LT(max_diff(model_->forward_embeddings(model_->embed(ids)).squeeze(0), want), kTol);

  int calls = 0;
  model_->set_layer_hook([&](int64_t, const torch::Tensor& h) {
    ++calls;
    return h;
  });
  EXPECT_LT(max_diff(model_->forward(ids).squeeze(0), want), kTol);
  EXPECT_EQ(calls, model_->config().num_layers);
  model_->set_layer_hook([](int64_t, const torch::Tensor& h) { return h + 0.01; });
  EXPECT_GT(max_diff(model_->forward(ids).squeeze(0), want), 1e-3);  // a hook changes the output
  model_->set_layer_hook({});

  // A soft prompt before the tokens, cached, then the tokens one by one: as one forward.
  const int64_t D = model_->config().hidden_size, T = ids.size(1);
  auto soft = torch::randn({1, 3, D}) * 0.1;
  auto all = torch::cat({soft, model_->embed(ids)}, 1);
  auto full = model_->forward_embeddings(all);
  KVCache cache(model_->config(), 1, T + 3, torch::kCPU);
  std::vector<torch::Tensor> parts{model_->forward_embeddings(all.narrow(1, 0, 4), &cache)};
  for (int64_t t = 4; t < T + 3; ++t) parts.push_back(model_->forward_embeddings(all.narrow(1, t, 1), &cache));
  EXPECT_LT(max_diff(torch::cat(parts, 1), full), kTol);

  LoraConfig lc;
  lc.rank = 2;
  lc.targets = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  apply_lora(model_, lc);
  for (auto& item : model_->named_parameters())
    if (item.key().find("lora_B") != std::string::npos) item.value().normal_(0, 0.05);
  auto adapted = model_->forward(ids);
  EXPECT_GT(max_diff(adapted.squeeze(0), want), 1e-4);
  merge_lora(model_);
  EXPECT_LT(max_diff(model_->forward(ids), adapted), kTol);
}

INSTANTIATE_TEST_SUITE_P(Reference, Family,
                         ::testing::Values("llama", "llama3", "llama-linear", "llama-dynamic", "qwen2-yarn", "qwen3",
                                           "gemma3", "gemma3-layer-types", "mistral", "smollm2"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

LlamaConfig parse(const nlohmann::json& j) { return LlamaConfig::from_json(j, "config.json"); }

void expect_refused(const nlohmann::json& j, const std::string& words) {
  try {
    parse(j);
    ADD_FAILURE() << "accepted " << j.dump();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
  }
}

nlohmann::json base_config(const std::string& model_type, const nlohmann::json& extra = nlohmann::json::object()) {
  nlohmann::json j = {{"model_type", model_type}, {"vocab_size", 64},          {"hidden_size", 32},
                      {"intermediate_size", 64},  {"num_hidden_layers", 2},    {"num_attention_heads", 4},
                      {"num_key_value_heads", 2}};
  j.update(extra);
  return j;
}

TEST(FamilyConfig, UnsupportedFieldsAreRefusedByName) {
  auto j = base_config("llama");
  j["rope_scaling"] = {{"rope_type", "longrope"}, {"factor", 2.0}};
  expect_refused(j, "\"longrope\"");
  j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
                       {"original_max_position_embeddings", 16}, {"short_factor", 1}};
  expect_refused(j, "\"short_factor\"");
  expect_refused(base_config("llama", {{"mlp_bias", true}}), "mlp_bias");
  expect_refused(base_config("llama", {{"hidden_act", "gelu"}}), "hidden_act");
  expect_refused(base_config("qwen2", {{"use_sliding_window", true}}), "use_sliding_window");
  expect_refused(base_config("llama", {{"sliding_window", 8}}), "sliding_window");
  expect_refused(base_config("llama", {{"attn_logit_softcapping", 50.0}}), "softcapping");
  expect_refused(base_config("llama", {{"architectures", nlohmann::json::array({"MixtralForCausalLM"})}}),
                 "MixtralForCausalLM");
  expect_refused(base_config("gemma3"), "gemma3_text");
  expect_refused(base_config("phi3"), "\"phi3\"");
  expect_refused(base_config("gemma3_text", {{"layer_types", nlohmann::json::array({"full_attention"})}}), "layer_types");
}

TEST(FamilyConfig, HeadDimAndLayerTypesAreRead) {
  auto j = base_config("qwen3");
  j["head_dim"] = 16;  // 4 heads x 16 != hidden 32
  auto c = parse(j);
  EXPECT_EQ(c.head_dim(), 16);
  EXPECT_TRUE(c.qk_norm);
  auto g = parse(base_config("gemma3_text", {{"sliding_window", 4}, {"sliding_window_pattern", 2}}));
  EXPECT_TRUE(g.layer_slides(0));
  EXPECT_FALSE(g.layer_slides(1));
  EXPECT_TRUE(g.tie_word_embeddings);
  // What to_json writes reads back the same.
  auto again = parse(g.to_json());
  EXPECT_EQ(again.to_json(), g.to_json());
  auto l3 = base_config("llama");
  l3["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
                        {"original_max_position_embeddings", 16}};
  auto c3 = parse(l3);
  EXPECT_EQ(parse(c3.to_json()).to_json(), c3.to_json());
  EXPECT_EQ(c3.rope_scaling.type, RopeScaling::Type::kLlama3);
}

// Hugging Face's init: N(0, initializer_range) weights, so a fresh LM starts near ln(vocab).
TEST(FamilyInit, NormalInitStartsNearUniformLoss) {
  LlamaConfig c = parse(base_config("llama", {{"vocab_size", 512}, {"hidden_size", 64}}));
  torch::manual_seed(3);
  LlamaForCausalLM m(c);
  init_weights(*m, InitOptions{c.initializer_range, false});
  torch::NoGradGuard g;
  auto ids = torch::randint(0, 512, {4, 33});
  auto logits = m->forward(ids.narrow(1, 0, 32));
  auto loss = torch::nn::functional::cross_entropy(logits.reshape({-1, 512}), ids.narrow(1, 1, 32).reshape({-1}));
  EXPECT_NEAR(loss.item<double>(), std::log(512.0), 0.05);
  const double sd = m->model->layer_list[0]->self_attn->q_proj->weight.std().item<double>();
  EXPECT_NEAR(sd, 0.02, 0.002);
  InitOptions scaled{0.02, true};
  init_weights(*m, scaled);
  EXPECT_NEAR(m->model->layer_list[0]->mlp->down_proj->weight.std().item<double>(), 0.02 / 2.0, 0.002);
}

}  // namespace
}  // namespace userllm::llm
