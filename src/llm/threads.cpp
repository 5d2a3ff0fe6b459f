#include "llm/threads.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>

namespace userllm::llm {

// Looked up at run time: the BLAS libtorch loads is a system choice (Debian's alternatives).
int openblas_threads() {
  using Get = int (*)();
  auto get = reinterpret_cast<Get>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  return get ? get() : -1;
}

std::string blas_description() {
  using Config = char* (*)();
  using Parallel = int (*)();
  auto config = reinterpret_cast<Config>(dlsym(RTLD_DEFAULT, "openblas_get_config"));
  if (!config) return "not OpenBLAS (libtorch's own BLAS; matrix products may be about 30x slower)";
  std::string s = config();
  if (auto parallel = reinterpret_cast<Parallel>(dlsym(RTLD_DEFAULT, "openblas_get_parallel"))) {
    const int p = parallel();
    s += p == 2 ? ", OpenMP" : p == 1 ? ", pthreads" : ", single-threaded";
  }
  return s;
}

void set_threads(int n) {
  at::set_num_threads(n);
  using Set = void (*)(int);
  if (auto set = reinterpret_cast<Set>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) set(n);
}

}  // namespace userllm::llm
