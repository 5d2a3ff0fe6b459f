// What a benchmark's numbers depend on: the BLAS actually mapped into the
// process (libtorch silently falls back to reference BLAS without OpenBLAS)
// and the thread counts.
#pragma once
#include <ATen/Parallel.h>
#include <ATen/Version.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "llm/threads.h"

namespace userllm::bench {

// The BLAS libraries mapped into a process ("self", or a pid: a server the bench started).
inline std::string mapped_blas(const std::string& pid = "self") {
  std::ifstream maps("/proc/" + pid + "/maps");
  std::string line, seen;
  while (std::getline(maps, line)) {
    auto slash = line.rfind('/');
    if (slash == std::string::npos) continue;
    // With the folder: openblas-openmp/ and openblas-pthread/ hold files of the same names.
    auto dir = line.rfind('/', slash - 1);
    auto lib = line.substr(dir == std::string::npos ? slash + 1 : dir + 1);
    if ((lib.find("blas") != std::string::npos || lib.find("mkl") != std::string::npos) && seen.find(lib) == std::string::npos)
      seen += lib + " ";
  }
  return seen.empty() ? "(none found)" : seen;
}

inline void print_blas() {
  std::printf("BLAS libraries mapped: %s\n", mapped_blas().c_str());
  std::printf("threads: intra-op %d, inter-op %d, OpenBLAS %d\n", at::get_num_threads(), at::get_num_interop_threads(),
              llm::openblas_threads());
  auto cfg = at::show_config();
  for (const char* key : {"BLAS_INFO", "LAPACK_INFO", "USE_MKL", "USE_OPENMP"}) {
    auto p = cfg.find(key);
    if (p != std::string::npos) std::printf("  %s\n", cfg.substr(p, cfg.find_first_of(",\n", p) - p).c_str());
  }
}

}  // namespace userllm::bench
