// FNV-1a, 64 bits: a fingerprint stable across platforms, runs and libtorch
// versions (std::hash is not), for what the store records: the catalogue a
// store belongs to and the encoder a cached state came from.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>

namespace userllm::serve {

struct Fnv {
  uint64_t h = 1469598103934665603ull;
  void add(const void* p, size_t n) {
    for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<const uint8_t*>(p)[i]) * 1099511628211ull;
  }
  void add(const std::string& s) { add(s.data(), s.size() + 1); }  // with its end, so "ab"+"c" != "a"+"bc"
  void add(uint64_t v) { add(&v, sizeof v); }
  std::string hex() const {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
  }
};

}  // namespace userllm::serve
