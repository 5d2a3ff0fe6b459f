// CPU threads for the tensor math. libtorch's intra-op pool and OpenBLAS's own
// pool are separate: libtorch calls OpenBLAS as a generic BLAS, so
// at::set_num_threads does not reach it, and two pools of N threads each
// oversubscribe the cores. set_threads sets both.
#pragma once
#include <string>

namespace userllm::llm {

void set_threads(int n);
int openblas_threads();  // -1 when OpenBLAS is not the BLAS in this process
// The BLAS this process runs, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ... Zen MAX_THREADS=64, OpenMP".
std::string blas_description();

}  // namespace userllm::llm
