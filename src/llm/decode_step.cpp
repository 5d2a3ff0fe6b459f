// One decode step (one new token per row) of LlamaForCausalLM as plain loops
// over float32 buffers. The tensor path (llama.cpp, attention.cpp) spends ~30
// tensor ops per layer, each a few microseconds of dispatch, which is most of a
// small model's step and a few percent of a large one's. Same arithmetic as the
// tensor path: tests/llm/test_decode_step.cpp holds the two within 1e-4.
#include <ATen/Parallel.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "common/error.h"
#include "llm/llama.h"

namespace userllm::llm {
namespace {

// x_hat * w (Llama) or x_hat * (1 + w) (Gemma), over one vector of n.
void rms_norm(const float* x, const float* w, int64_t n, double eps, bool plus_one, float* y) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += double(x[i]) * double(x[i]);
  const float r = float(1.0 / std::sqrt(ss / double(n) + eps));
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * r * (plus_one ? 1.0f + w[i] : w[i]);
}

// rotate_half layout: dimension i pairs with i + half.
void rotate(float* x, const float* cos, const float* sin, int64_t half) {
  for (int64_t i = 0; i < half; ++i) {
    const float a = x[i], b = x[i + half];
    x[i] = a * cos[i] - b * sin[i];
    x[i + half] = b * cos[i] + a * sin[i];
  }
}

float gelu_tanh(float x) {
  const float k = 0.7978845608028654f;  // sqrt(2 / pi)
  return 0.5f * x * (1.0f + std::tanh(k * (x + 0.044715f * x * x * x)));
}

bool plain_cpu_float(const torch::Tensor& t) {
  return t.defined() && t.device().is_cpu() && t.scalar_type() == torch::kFloat32 && t.is_contiguous();
}

}  // namespace

bool LlamaForCausalLMImpl::decode_step_applies(const torch::Tensor& embeds, const KVCache* cache) {
  if (!fast_decode_ || !cache || embeds.size(1) != 1 || torch::GradMode::is_enabled() || !plain_cpu_float(embeds))
    return false;
  for (size_t i = 0; i < cache->k.size(); ++i)
    if (!plain_cpu_float(cache->k[i]) || !plain_cpu_float(cache->v[i])) return false;
  for (auto& layer : model->layer_list) {
    auto& a = layer->self_attn;
    for (auto* p : {&a->q_proj, &a->k_proj, &a->v_proj, &a->o_proj, &layer->mlp->gate_proj, &layer->mlp->up_proj,
                    &layer->mlp->down_proj})
      if ((*p)->has_lora() || (!(*p)->packed().defined() && !plain_cpu_float((*p)->weight))) return false;
  }
  return true;
}

torch::Tensor LlamaForCausalLMImpl::decode_step(const torch::Tensor& embeds, KVCache& cache,
                                                const torch::Tensor& positions_in, const torch::Tensor& key_mask_in) {
  const auto& c = config_;
  const int64_t B = embeds.size(0), D = c.hidden_size, H = c.num_heads, KV = c.num_kv_heads, hd = c.head_dim();
  const int64_t G = H / KV, F = c.intermediate_size, half = hd / 2;
  const int64_t past = cache.length, S = past + 1, cap = cache.capacity();
  const bool gemma = c.gemma();
  const double eps = c.rms_norm_eps;
  const float scale = float(c.attention_scale());

  auto positions = positions_in.to(torch::kLong).contiguous();
  const int64_t* pos = positions.data_ptr<int64_t>();
  int64_t max_pos = 0;
  for (int64_t b = 0; b < B; ++b) {
    if (pos[b] < 0 || pos[b] >= rope_.max_positions())
      fail("position " + std::to_string(pos[b]) + " is outside the model's context of " +
           std::to_string(rope_.max_positions()) + " positions");
    max_pos = std::max(max_pos, pos[b]);
  }
  torch::Tensor key_mask;
  if (key_mask_in.defined()) key_mask = key_mask_in.to(torch::kBool).contiguous();
  const bool* km = key_mask.defined() ? key_mask.data_ptr<bool>() : nullptr;

  // cos/sin per row, for the global rope and (Gemma's sliding layers) the local one.
  auto angles = [&](RotaryEmbedding& rope, std::vector<float>& cs) {
    auto freq = rope.frequencies(max_pos).to(torch::kCPU).contiguous();
    const float* f = freq.data_ptr<float>();
    const float att = float(rope.attention_scaling());
    cs.resize(size_t(B * 2 * half));
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < half; ++i) {
        const float a = float(pos[b]) * f[i];
        cs[size_t(b * 2 * half + i)] = std::cos(a) * att;
        cs[size_t(b * 2 * half + half + i)] = std::sin(a) * att;
      }
  };
  std::vector<float> cs_global, cs_local;
  angles(rope_, cs_global);
  if (gemma && c.sliding_window > 0) angles(rope_local_, cs_local);

  std::vector<float> h(embeds.data_ptr<float>(), embeds.data_ptr<float>() + B * D);
  std::vector<float> xn(size_t(B * D)), q(size_t(B * H * hd)), k(size_t(B * KV * hd)), v(size_t(B * KV * hd));
  std::vector<float> att(size_t(B * H * hd)), o(size_t(B * D)), gate(size_t(B * F)), up(size_t(B * F));

  for (int64_t li = 0; li < c.num_layers; ++li) {
    auto& layer = model->layer_list[size_t(li)];
    auto& a = layer->self_attn;
    const bool slides = c.layer_slides(li);
    const std::vector<float>& cs = slides && gemma ? cs_local : cs_global;
    const int64_t window = slides ? c.sliding_window : 0;

    for (int64_t b = 0; b < B; ++b)
      rms_norm(&h[size_t(b * D)], layer->input_layernorm->weight.data_ptr<float>(), D, eps, gemma, &xn[size_t(b * D)]);
    a->q_proj->forward_rows(xn.data(), B, q.data());
    a->k_proj->forward_rows(xn.data(), B, k.data());
    a->v_proj->forward_rows(xn.data(), B, v.data());
    for (int64_t b = 0; b < B; ++b) {
      const float* cosb = &cs[size_t(b * 2 * half)];
      for (int64_t hh = 0; hh < H; ++hh) {
        float* qh = &q[size_t((b * H + hh) * hd)];
        if (!a->q_norm.is_empty()) rms_norm(qh, a->q_norm->weight.data_ptr<float>(), hd, eps, gemma, qh);
        rotate(qh, cosb, cosb + half, half);
      }
      for (int64_t kh = 0; kh < KV; ++kh) {
        float* kk = &k[size_t((b * KV + kh) * hd)];
        if (!a->k_norm.is_empty()) rms_norm(kk, a->k_norm->weight.data_ptr<float>(), hd, eps, gemma, kk);
        rotate(kk, cosb, cosb + half, half);
        // The cache is [B, KV, capacity, hd]; this step's slot is `past`.
        const int64_t slot = ((b * KV + kh) * cap + past) * hd;
        std::memcpy(cache.k[size_t(li)].data_ptr<float>() + slot, kk, size_t(hd) * sizeof(float));
        std::memcpy(cache.v[size_t(li)].data_ptr<float>() + slot, &v[size_t((b * KV + kh) * hd)],
                    size_t(hd) * sizeof(float));
      }
    }

    // Attention per (row, query head); a long context is split over the threads.
    const float* kc = cache.k[size_t(li)].data_ptr<float>();
    const float* vc = cache.v[size_t(li)].data_ptr<float>();
    const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(S * hd, 1));
    at::parallel_for(0, B * H, grain, [&](int64_t begin, int64_t end) {
      std::vector<float> p(static_cast<size_t>(S));
      for (int64_t bh = begin; bh < end; ++bh) {
        const int64_t b = bh / H, kh = (bh % H) / G;
        const float* qh = &q[size_t(bh * hd)];
        const float* kb = kc + (b * KV + kh) * cap * hd;
        const float* vb = vc + (b * KV + kh) * cap * hd;
        float best = -std::numeric_limits<float>::infinity();
        for (int64_t s = 0; s < S; ++s) {
          const bool allowed = (!km || km[b * S + s]) && (window == 0 || past - s < window);
          if (!allowed) {
            p[size_t(s)] = -std::numeric_limits<float>::infinity();
            continue;
          }
          float dot = 0;
          for (int64_t i = 0; i < hd; ++i) dot += qh[i] * kb[s * hd + i];
          p[size_t(s)] = dot * scale;
          best = std::max(best, p[size_t(s)]);
        }
        float* out = &att[size_t(bh * hd)];
        std::fill(out, out + hd, 0.0f);
        if (best == -std::numeric_limits<float>::infinity()) continue;  // a pad row: no real key
        float total = 0;
        for (int64_t s = 0; s < S; ++s) total += p[size_t(s)] = std::exp(p[size_t(s)] - best);
        const float inv = 1.0f / total;
        for (int64_t s = 0; s < S; ++s) {
          const float w = p[size_t(s)] * inv;
          if (w == 0) continue;
          for (int64_t i = 0; i < hd; ++i) out[i] += w * vb[s * hd + i];
        }
      }
    });
    a->o_proj->forward_rows(att.data(), B, o.data());

    auto residual = [&](const RMSNorm& post, std::vector<float>& y) {  // h += post(y) or h += y
      for (int64_t b = 0; b < B; ++b) {
        float* yb = &y[size_t(b * D)];
        if (!post.is_empty()) rms_norm(yb, post->weight.data_ptr<float>(), D, eps, gemma, yb);
        for (int64_t i = 0; i < D; ++i) h[size_t(b * D + i)] += yb[i];
      }
    };
    const bool gemma_norms = !layer->pre_feedforward_layernorm.is_empty();
    residual(gemma_norms ? layer->post_attention_layernorm : RMSNorm(nullptr), o);
    const RMSNorm& pre_mlp = gemma_norms ? layer->pre_feedforward_layernorm : layer->post_attention_layernorm;
    for (int64_t b = 0; b < B; ++b)
      rms_norm(&h[size_t(b * D)], pre_mlp->weight.data_ptr<float>(), D, eps, gemma, &xn[size_t(b * D)]);
    layer->mlp->gate_proj->forward_rows(xn.data(), B, gate.data());
    layer->mlp->up_proj->forward_rows(xn.data(), B, up.data());
    for (size_t i = 0; i < gate.size(); ++i)
      gate[i] = (gemma ? gelu_tanh(gate[i]) : gate[i] / (1.0f + std::exp(-gate[i]))) * up[i];
    layer->mlp->down_proj->forward_rows(gate.data(), B, o.data());
    residual(gemma_norms ? layer->post_feedforward_layernorm : RMSNorm(nullptr), o);

    if (hook_) {
      auto out = hook_(li, torch::from_blob(h.data(), {B, 1, D}, torch::kFloat32)).to(torch::kFloat32).contiguous();
      TORCH_CHECK(out.numel() == B * D, "layer hook changed the hidden state's shape");
      std::memmove(h.data(), out.data_ptr<float>(), size_t(B * D) * sizeof(float));
    }
  }
  cache.length = S;
  auto result = torch::empty({B, 1, D}, torch::kFloat32);
  for (int64_t b = 0; b < B; ++b)
    rms_norm(&h[size_t(b * D)], model->norm->weight.data_ptr<float>(), D, eps, gemma, result.data_ptr<float>() + b * D);
  return result;
}

}  // namespace userllm::llm
