// The decoder against its formulas, written out plainly here (double
// precision, explicit loops), and its cache / padding / hook behaviour.
#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"
#include "llm/llama.h"
#include "llm/llama2c_loader.h"
#include "llm_test_util.h"

namespace userllm::llm {
namespace {

using Mat = std::vector<std::vector<double>>;
using Vec = std::vector<double>;

Mat to_mat(const torch::Tensor& t) {
  auto d = t.to(torch::kDouble).contiguous();
  Mat m(size_t(d.size(0)), Vec(size_t(d.size(1))));
  for (int64_t i = 0; i < d.size(0); ++i)
    for (int64_t j = 0; j < d.size(1); ++j) m[size_t(i)][size_t(j)] = d[i][j].item<double>();
  return m;
}
Vec to_vec(const torch::Tensor& t) {
  auto d = t.to(torch::kDouble).contiguous();
  Vec v(size_t(d.numel()));
  for (int64_t i = 0; i < d.numel(); ++i) v[size_t(i)] = d[i].item<double>();
  return v;
}
Vec matvec(const Mat& w, const Vec& x, const Vec& b = {}) {
  Vec y(w.size(), 0.0);
  for (size_t i = 0; i < w.size(); ++i) {
    for (size_t j = 0; j < x.size(); ++j) y[i] += w[i][j] * x[j];
    if (!b.empty()) y[i] += b[i];
  }
  return y;
}
Vec rmsnorm(const Vec& x, const Vec& w, double eps) {
  double ss = 0;
  for (double v : x) ss += v * v;
  double r = 1.0 / std::sqrt(ss / double(x.size()) + eps);
  Vec y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * r * w[i];
  return y;
}
// rotate_half RoPE on one head slice [off, off + hd): dimension i pairs with i + hd/2.
void rope(Vec& v, size_t off, size_t hd, double pos, double theta) {
  for (size_t i = 0; i < hd / 2; ++i) {
    double ang = pos / std::pow(theta, double(2 * i) / double(hd));
    double a = v[off + i], b = v[off + i + hd / 2];
    v[off + i] = a * std::cos(ang) - b * std::sin(ang);
    v[off + i + hd / 2] = b * std::cos(ang) + a * std::sin(ang);
  }
}

// Logits of every position, computed from the definitions.
std::vector<Vec> reference_logits(LlamaForCausalLM& m, const std::vector<int64_t>& ids) {
  const auto& c = m->config();
  const size_t T = ids.size(), D = size_t(c.hidden_size), H = size_t(c.num_heads), KV = size_t(c.num_kv_heads);
  const size_t hd = D / H, G = H / KV;
  auto emb = to_mat(m->model->embed_tokens->weight);
  std::vector<Vec> x;
  for (auto id : ids) x.push_back(emb[size_t(id)]);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    auto& L = m->model->layer_list[size_t(l)];
    auto& a = L->self_attn;
    std::vector<Vec> q(T), k(T), v(T);
    for (size_t t = 0; t < T; ++t) {
      auto h = rmsnorm(x[t], to_vec(L->input_layernorm->weight), c.rms_norm_eps);
      q[t] = matvec(to_mat(a->q_proj->weight), h, to_vec(a->q_proj->bias));
      k[t] = matvec(to_mat(a->k_proj->weight), h, to_vec(a->k_proj->bias));
      v[t] = matvec(to_mat(a->v_proj->weight), h, to_vec(a->v_proj->bias));
      for (size_t hh = 0; hh < H; ++hh) rope(q[t], hh * hd, hd, double(t), c.rope_theta);
      for (size_t hh = 0; hh < KV; ++hh) rope(k[t], hh * hd, hd, double(t), c.rope_theta);
    }
    for (size_t t = 0; t < T; ++t) {
      Vec att(D, 0.0);
      for (size_t hh = 0; hh < H; ++hh) {
        const size_t kvh = hh / G;  // grouped-query attention: G query heads per kv head
        Vec s(t + 1);
        double mx = -1e300, sum = 0;
        for (size_t u = 0; u <= t; ++u) {
          double dot = 0;
          for (size_t i = 0; i < hd; ++i) dot += q[t][hh * hd + i] * k[u][kvh * hd + i];
          s[u] = dot / std::sqrt(double(hd));
          mx = std::max(mx, s[u]);
        }
        for (auto& e : s) sum += e = std::exp(e - mx);
        for (size_t u = 0; u <= t; ++u)
          for (size_t i = 0; i < hd; ++i) att[hh * hd + i] += s[u] / sum * v[u][kvh * hd + i];
      }
      auto o = matvec(to_mat(a->o_proj->weight), att);
      for (size_t i = 0; i < D; ++i) x[t][i] += o[i];
      auto h = rmsnorm(x[t], to_vec(L->post_attention_layernorm->weight), c.rms_norm_eps);
      auto g = matvec(to_mat(L->mlp->gate_proj->weight), h), up = matvec(to_mat(L->mlp->up_proj->weight), h);
      for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1 + std::exp(-g[i])) * up[i];
      auto d = matvec(to_mat(L->mlp->down_proj->weight), g);
      for (size_t i = 0; i < D; ++i) x[t][i] += d[i];
    }
  }
  auto out_w = to_mat(m->output_weight());
  std::vector<Vec> logits;
  for (size_t t = 0; t < T; ++t) logits.push_back(matvec(out_w, rmsnorm(x[t], to_vec(m->model->norm->weight), c.rms_norm_eps)));
  return logits;
}

void expect_logits_near(const torch::Tensor& got, const std::vector<Vec>& want, double tol) {
  ASSERT_EQ(got.size(0), int64_t(want.size()));
  for (size_t t = 0; t < want.size(); ++t)
    for (size_t i = 0; i < want[t].size(); ++i)
      ASSERT_NEAR(got[int64_t(t)][int64_t(i)].item<double>(), want[t][i], tol) << "position " << t << " logit " << i;
}

const std::vector<int64_t> kIds{3, 17, 5, 0, 22, 9, 9, 1};

TEST(LlamaModel, MatchesDirectFormulasWithGqaBiasAndRope) {
  for (bool tied : {false, true}) {
    auto m = test::random_model(test::tiny_config(tied));
    torch::NoGradGuard g;
    auto logits = m->forward(torch::tensor(kIds).unsqueeze(0))[0];
    expect_logits_near(logits, reference_logits(m, kIds), 1e-5);
  }
}

TEST(LlamaModel, KvCacheStepByStepEqualsFullForward) {
  auto m = test::random_model(test::tiny_config());
  torch::NoGradGuard g;
  auto want = reference_logits(m, kIds);
  KVCache cache(m->config(), 1, int64_t(kIds.size()), torch::kCPU);
  // Prefill 3 tokens, then one at a time.
  auto first = m->forward(torch::tensor(std::vector<int64_t>(kIds.begin(), kIds.begin() + 3)).unsqueeze(0), &cache)[0];
  std::vector<torch::Tensor> rows{first};
  for (size_t t = 3; t < kIds.size(); ++t) rows.push_back(m->forward(torch::tensor({kIds[t]}).unsqueeze(0), &cache)[0]);
  EXPECT_EQ(cache.length, int64_t(kIds.size()));
  expect_logits_near(torch::cat(rows, 0), want, 1e-5);
}

TEST(LlamaModel, LeftPaddedBatchEqualsSingleRows) {
  auto m = test::random_model(test::tiny_config());
  torch::NoGradGuard g;
  std::vector<int64_t> shorter(kIds.begin() + 3, kIds.end());  // 5 tokens, padded by 3
  auto ids = torch::stack({torch::tensor(kIds), torch::cat({torch::zeros({3}, torch::kLong), torch::tensor(shorter)})});
  auto mask = torch::ones({2, 8}, torch::kLong);
  mask[1].narrow(0, 0, 3).fill_(0);
  auto logits = m->forward(ids, nullptr, make_positions(mask, 8), mask);
  EXPECT_FALSE(logits.isnan().any().item<bool>());
  expect_logits_near(logits[0], reference_logits(m, kIds), 1e-5);
  expect_logits_near(logits[1].narrow(0, 3, 5), reference_logits(m, shorter), 1e-5);
}

TEST(LlamaModel, EmbeddingsEntryAndLayerHooks) {
  auto m = test::random_model(test::tiny_config());
  torch::NoGradGuard g;
  auto ids = torch::tensor(kIds).unsqueeze(0);
  auto base = m->forward(ids);
  EXPECT_TRUE(torch::allclose(m->forward_embeddings(m->embed(ids)), base));
  std::vector<int64_t> seen;
  m->set_layer_hook([&](int64_t layer, const torch::Tensor& h) {
    seen.push_back(layer);
    return h;
  });
  EXPECT_TRUE(torch::equal(m->forward(ids), base));
  EXPECT_EQ(seen, (std::vector<int64_t>{0, 1}));
  // A hook that perturbs only after the last layer changes every logit row.
  m->set_layer_hook([](int64_t layer, const torch::Tensor& h) { return layer == 1 ? h + 1.0 : h; });
  EXPECT_FALSE(torch::allclose(m->forward(ids), base));
  m->set_layer_hook({});
  EXPECT_THROW(m->forward(torch::tensor({23L}).unsqueeze(0)), Error);
}

// llama2.c pairs rotary dims (2i, 2i+1); after permute_rotary_rows the
// rotate_half layout must give the same attention scores q.k.
TEST(Rope, InterleavedWeightsPermutedToRotateHalfKeepScores) {
  torch::manual_seed(3);
  const int64_t heads = 2, hd = 8, in = 6;
  const double theta = 10000, pq = 5, pk = 2;
  auto wq = torch::randn({heads * hd, in}, torch::kDouble), wk = torch::randn({heads * hd, in}, torch::kDouble);
  auto x = torch::randn({in}, torch::kDouble), y = torch::randn({in}, torch::kDouble);
  auto interleaved = [&](Vec v, double pos) {  // run.c's rope
    for (size_t i = 0; i < v.size(); i += 2) {
      double ang = pos / std::pow(theta, double(i % size_t(hd)) / double(hd));
      double a = v[i], b = v[i + 1];
      v[i] = a * std::cos(ang) - b * std::sin(ang);
      v[i + 1] = a * std::sin(ang) + b * std::cos(ang);
    }
    return v;
  };
  auto q_meta = interleaved(to_vec(torch::mv(wq, x)), pq), k_meta = interleaved(to_vec(torch::mv(wk, y)), pk);
  auto q_hf = to_vec(torch::mv(permute_rotary_rows(wq, heads), x));
  auto k_hf = to_vec(torch::mv(permute_rotary_rows(wk, heads), y));
  for (int64_t h = 0; h < heads; ++h) {
    rope(q_hf, size_t(h * hd), size_t(hd), pq, theta);
    rope(k_hf, size_t(h * hd), size_t(hd), pk, theta);
    double s_meta = 0, s_hf = 0;
    for (int64_t i = h * hd; i < (h + 1) * hd; ++i) {
      s_meta += q_meta[size_t(i)] * k_meta[size_t(i)];
      s_hf += q_hf[size_t(i)] * k_hf[size_t(i)];
    }
    EXPECT_NEAR(s_meta, s_hf, 1e-9) << "head " << h;
  }
}

}  // namespace
}  // namespace userllm::llm
