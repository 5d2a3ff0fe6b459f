// Matrix-vector kernels for decoding. A decode step multiplies every weight
// matrix by a handful of rows (one per sequence in the batch), so its speed is
// the memory bandwidth over the weights' bytes. sgemm handles one row at ~40%
// of that; these read each weight once per call, for all rows together, split
// over libtorch's intra-op threads by output row.
//
// Weights are row-major [out, in] (PyTorch's Linear layout) in one of three
// formats: float32, bfloat16 (the upper half of a float32), or Q8_0-style int8
// (each row in blocks of 32 with one float scale per block, as in llama.cpp;
// activations are quantised the same way per call, and blocks are dotted in
// int32). The instruction set is chosen at run time (AVX2+FMA, else portable C++).
#pragma once
#include <cstdint>

namespace userllm::llm::kernels {

enum class Isa { kPortable, kAvx2 };
Isa best_isa();           // what this CPU runs
const char* name(Isa isa);

constexpr int64_t kQ8Block = 32;
inline int64_t q8_blocks(int64_t cols) { return (cols + kQ8Block - 1) / kQ8Block; }

// y[r, o] = sum_i w[o, i] * x[r, i] (+ bias[o]) for r < n_rows; x rows are
// `cols` long and contiguous, y rows are `rows` long. bias may be null.
void gemv_f32(const float* w, int64_t rows, int64_t cols, const float* x, int64_t n_rows, const float* bias,
              float* y, Isa isa = best_isa());
void gemv_bf16(const uint16_t* w, int64_t rows, int64_t cols, const float* x, int64_t n_rows, const float* bias,
               float* y, Isa isa = best_isa());

// Q8_0: q [rows, q8_blocks(cols) * 32] (zero-padded past cols), scale [rows, q8_blocks(cols)].
void quantize_q8(const float* x, int64_t rows, int64_t cols, int8_t* q, float* scale);
void gemv_q8(const int8_t* wq, const float* wscale, int64_t rows, int64_t cols, const float* x, int64_t n_rows,
             const float* bias, float* y, Isa isa = best_isa());

}  // namespace userllm::llm::kernels
