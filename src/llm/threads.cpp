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

void set_threads(int n) {
  at::set_num_threads(n);
  using Set = void (*)(int);
  if (auto set = reinterpret_cast<Set>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) set(n);
}

}  // namespace userllm::llm
