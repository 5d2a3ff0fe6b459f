#include "llm/kernels.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#define USERLLM_AVX2 __attribute__((target("avx2,fma")))
#endif

namespace userllm::llm::kernels {
namespace {

// Up to this many activation rows share one pass over a weight row (register blocking).
constexpr int kRowBlock = 4;

inline float bf16_to_float(uint16_t b) {
  uint32_t bits = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline float load1(float v) { return v; }
inline float load1(uint16_t v) { return bf16_to_float(v); }

// ---- portable: several partial sums so the compiler can keep them in registers ----

template <typename W>
void dot_rows_portable(const W* w, const float* x, int64_t cols, int nr, float* out) {
  for (int r = 0; r < nr; ++r) {
    const float* xr = x + r * cols;
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= cols; i += 8)
      for (int j = 0; j < 8; ++j) s[j] += load1(w[i + j]) * xr[i + j];
    for (; i < cols; ++i) s[0] += load1(w[i]) * xr[i];
    out[r] = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  }
}

void dot_q8_portable(const int8_t* wq, const float* ws, const int8_t* xq, const float* xs, int64_t nb, int64_t ldx,
                     int64_t ldxs, int nr, float* out) {
  for (int r = 0; r < nr; ++r) {
    const int8_t* xr = xq + r * ldx;
    const float* xsr = xs + r * ldxs;
    float acc = 0;
    for (int64_t b = 0; b < nb; ++b) {
      int32_t s = 0;
      for (int64_t i = 0; i < kQ8Block; ++i) s += int32_t(wq[b * kQ8Block + i]) * int32_t(xr[b * kQ8Block + i]);
      acc += ws[b] * xsr[b] * float(s);
    }
    out[r] = acc;
  }
}

#if defined(__x86_64__)
USERLLM_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

USERLLM_AVX2 inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
USERLLM_AVX2 inline __m256 load8(const uint16_t* p) {
  __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

// NR activation rows against one weight row; two accumulators per row hide the FMA latency.
template <int NR, typename W>
USERLLM_AVX2 void dot_rows_avx2(const W* w, const float* x, int64_t cols, float* out) {
  __m256 acc[NR][2];
  for (int r = 0; r < NR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= cols; i += 16) {
    const __m256 w0 = load8(w + i), w1 = load8(w + i + 8);
    for (int r = 0; r < NR; ++r) {
      acc[r][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + r * cols + i), acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + r * cols + i + 8), acc[r][1]);
    }
  }
  for (; i + 8 <= cols; i += 8) {
    const __m256 w0 = load8(w + i);
    for (int r = 0; r < NR; ++r) acc[r][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + r * cols + i), acc[r][0]);
  }
  for (int r = 0; r < NR; ++r) {
    float s = hsum(_mm256_add_ps(acc[r][0], acc[r][1]));
    for (int64_t j = i; j < cols; ++j) s += load1(w[j]) * x[r * cols + j];
    out[r] = s;
  }
}

// One block of 32: |w| * (x with w's sign) as unsigned x signed bytes, summed to int32
// lanes. Quantised values lie in [-127, 127], so the pairwise int16 sums cannot saturate.
USERLLM_AVX2 inline __m256 q8_block(__m256i w_abs, __m256i w, __m256i x) {
  __m256i p16 = _mm256_maddubs_epi16(w_abs, _mm256_sign_epi8(x, w));
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

template <int NR>
USERLLM_AVX2 void dot_q8_avx2(const int8_t* wq, const float* ws, const int8_t* xq, const float* xs, int64_t nb,
                              int64_t ldx, int64_t ldxs, float* out) {
  __m256 acc[NR][2];
  for (int r = 0; r < NR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    for (int k = 0; k < 2; ++k) {
      const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wq + (b + k) * kQ8Block));
      const __m256i w_abs = _mm256_sign_epi8(w, w);
      for (int r = 0; r < NR; ++r) {
        const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + r * ldx + (b + k) * kQ8Block));
        const __m256 d = _mm256_set1_ps(ws[b + k] * xs[r * ldxs + b + k]);
        acc[r][k] = _mm256_fmadd_ps(d, q8_block(w_abs, w, x), acc[r][k]);
      }
    }
  }
  for (; b < nb; ++b) {
    const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wq + b * kQ8Block));
    const __m256i w_abs = _mm256_sign_epi8(w, w);
    for (int r = 0; r < NR; ++r) {
      const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + r * ldx + b * kQ8Block));
      const __m256 d = _mm256_set1_ps(ws[b] * xs[r * ldxs + b]);
      acc[r][0] = _mm256_fmadd_ps(d, q8_block(w_abs, w, x), acc[r][0]);
    }
  }
  for (int r = 0; r < NR; ++r) out[r] = hsum(_mm256_add_ps(acc[r][0], acc[r][1]));
}
#endif

// Splits a matrix's rows over the intra-op threads; a matrix below ~32K values
// stays on the calling thread (waking the pool would cost more than it saves).
template <typename RowFn>
void for_each_output_row(int64_t rows, int64_t cols, RowFn fn) {
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 15) / std::max<int64_t>(cols, 1));
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) fn(o);
  });
}

template <typename W>
void gemv_dense(const W* w, int64_t rows, int64_t cols, const float* x, int64_t n_rows, const float* bias, float* y,
                Isa isa) {
  for_each_output_row(rows, cols, [&](int64_t o) {
    const W* wr = w + o * cols;
    float out[kRowBlock];
    for (int64_t r0 = 0; r0 < n_rows; r0 += kRowBlock) {
      const int nr = int(std::min<int64_t>(kRowBlock, n_rows - r0));
      const float* xr = x + r0 * cols;
#if defined(__x86_64__)
      if (isa == Isa::kAvx2) {
        switch (nr) {
          case 1: dot_rows_avx2<1>(wr, xr, cols, out); break;
          case 2: dot_rows_avx2<2>(wr, xr, cols, out); break;
          case 3: dot_rows_avx2<3>(wr, xr, cols, out); break;
          default: dot_rows_avx2<4>(wr, xr, cols, out); break;
        }
      } else
#endif
        dot_rows_portable(wr, xr, cols, nr, out);
      for (int r = 0; r < nr; ++r) y[(r0 + r) * rows + o] = out[r] + (bias ? bias[o] : 0.0f);
    }
  });
}

}  // namespace

Isa best_isa() {
#if defined(__x86_64__)
  static const Isa isa =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? Isa::kAvx2 : Isa::kPortable;
  return isa;
#else
  return Isa::kPortable;
#endif
}

const char* name(Isa isa) { return isa == Isa::kAvx2 ? "avx2" : "portable"; }

void gemv_f32(const float* w, int64_t rows, int64_t cols, const float* x, int64_t n_rows, const float* bias,
              float* y, Isa isa) {
  gemv_dense(w, rows, cols, x, n_rows, bias, y, isa);
}

void gemv_bf16(const uint16_t* w, int64_t rows, int64_t cols, const float* x, int64_t n_rows, const float* bias,
               float* y, Isa isa) {
  gemv_dense(w, rows, cols, x, n_rows, bias, y, isa);
}

void quantize_q8(const float* x, int64_t rows, int64_t cols, int8_t* q, float* scale) {
  const int64_t nb = q8_blocks(cols), ld = nb * kQ8Block;
  for_each_output_row(rows, cols, [&](int64_t r) {
    const float* xr = x + r * cols;
    int8_t* qr = q + r * ld;
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t lo = b * kQ8Block, hi = std::min(cols, lo + kQ8Block);
      float amax = 0;
      for (int64_t i = lo; i < hi; ++i) amax = std::max(amax, std::fabs(xr[i]));
      const float d = amax / 127.0f, inv = d > 0 ? 1.0f / d : 0.0f;
      scale[r * nb + b] = d;
      for (int64_t i = lo; i < hi; ++i) qr[i] = int8_t(std::clamp(std::nearbyint(xr[i] * inv), -127.0f, 127.0f));
      for (int64_t i = hi; i < lo + kQ8Block; ++i) qr[i] = 0;
    }
  });
}

void gemv_q8(const int8_t* wq, const float* wscale, int64_t rows, int64_t cols, const float* x, int64_t n_rows,
             const float* bias, float* y, Isa isa) {
  const int64_t nb = q8_blocks(cols), ld = nb * kQ8Block;
  std::vector<int8_t> xq(size_t(n_rows * ld));
  std::vector<float> xs(size_t(n_rows * nb));
  quantize_q8(x, n_rows, cols, xq.data(), xs.data());
  for_each_output_row(rows, cols, [&](int64_t o) {
    const int8_t* wr = wq + o * ld;
    const float* wsr = wscale + o * nb;
    float out[kRowBlock];
    for (int64_t r0 = 0; r0 < n_rows; r0 += kRowBlock) {
      const int nr = int(std::min<int64_t>(kRowBlock, n_rows - r0));
      const int8_t* xr = xq.data() + r0 * ld;
      const float* xsr = xs.data() + r0 * nb;
#if defined(__x86_64__)
      if (isa == Isa::kAvx2) {
        switch (nr) {
          case 1: dot_q8_avx2<1>(wr, wsr, xr, xsr, nb, ld, nb, out); break;
          case 2: dot_q8_avx2<2>(wr, wsr, xr, xsr, nb, ld, nb, out); break;
          case 3: dot_q8_avx2<3>(wr, wsr, xr, xsr, nb, ld, nb, out); break;
          default: dot_q8_avx2<4>(wr, wsr, xr, xsr, nb, ld, nb, out); break;
        }
      } else
#endif
        dot_q8_portable(wr, wsr, xr, xsr, nb, ld, nb, nr, out);
      for (int r = 0; r < nr; ++r) y[(r0 + r) * rows + o] = out[r] + (bias ? bias[o] : 0.0f);
    }
  });
}

}  // namespace userllm::llm::kernels
